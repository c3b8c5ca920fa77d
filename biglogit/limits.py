"""Upper bounds shared by the command-line flags (cli.py) and the library checks behind them."""

# Upper bounds of the numbers users type (absl's lower_bound/upper_bound on every integer and float
# flag; tests/test_flag_bounds.py keeps it so): counts that allocate memory or time, at sizes no run
# here or on a pod needs and every machine refuses before it would run out of memory halfway.
MAX_EXAMPLES = 10_000_000  # images scored, built or inverted
MAX_BATCH = 65_536  # images in one batch
MAX_ROWS = 256  # rows of a figure
MAX_STEPS = 1_000_000_000
MAX_RESOLUTION = 1024  # stored image side: 1024 x 1024 x 3 bytes per image already
MAX_PROCESSES = 65_536
MAX_SEED = 2**31 - 1
