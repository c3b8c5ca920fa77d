# Sourced by the launchers that train runs one after the other (not a script of its own).
# A stop request -- Ctrl-C in the terminal, or `kill -TERM -- -PGID` to the launcher's process group --
# reaches the run in flight, which checkpoints and exits 0, and bash would then start the next run.
# The trap remembers the request; stop_if_asked, called after each run, then ends the launcher
# (exit 130) with the runs after it untouched, so the same command resumes where it stopped.
STOP_ASKED=""
trap 'STOP_ASKED=1' INT TERM
stop_if_asked() {
  [[ -z "${STOP_ASKED}" ]] || { echo "stopped after ${1}; the same command resumes it" >&2; exit 130; }
}
