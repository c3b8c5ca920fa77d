"""biglogit.files: one atomic write for local and object-store paths."""
import os

from etils import epath

from biglogit import files


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
  target = tmp_path / "deep" / "metrics.json"
  files.atomic_write(str(target), '{"a": 1}')
  files.atomic_write(str(target), b'{"a": 2}')
  assert target.read_text() == '{"a": 2}'
  assert os.listdir(target.parent) == ["metrics.json"]


def test_remote_paths_take_the_same_helper(monkeypatch, tmp_path):
  """A gs://-like path goes through epath with no temporary object and no rename (object stores
  publish an object only when its upload completes); the fake maps gs://bucket/ to a local folder."""
  writes = []

  class FakeBucketPath(type(epath.Path(tmp_path))):
    def write_text(self, text, *args, **kwargs):
      writes.append(str(self))
      return super().write_text(text, *args, **kwargs)

  monkeypatch.setattr(files.epath, "Path", lambda p: FakeBucketPath(str(p).replace("gs://bucket", str(tmp_path))))
  assert files.is_remote("gs://bucket/run/eval/metrics.md") and not files.is_remote(str(tmp_path))
  files.atomic_write("gs://bucket/run/eval/metrics.md", "| psnr |")
  assert (tmp_path / "run" / "eval" / "metrics.md").read_text() == "| psnr |"
  assert writes == [str(tmp_path / "run" / "eval" / "metrics.md")]  # written once, in place


def test_the_inverter_reads_a_remote_run_through_epath(monkeypatch, tmp_path):
  """config.json and a release's file digests are read through epath, so a gs:// workdir takes the
  same code (the fake maps gs://bucket/ to a local folder)."""
  from biglogit import inverter
  run = tmp_path / "run"
  (run / "generator" / "d").mkdir(parents=True)
  (run / "config.json").write_text('{"seed": 3}')
  (run / "generator" / "d" / "chunk").write_bytes(b"weights")
  real_path = epath.Path
  monkeypatch.setattr(inverter.epath, "Path", lambda p: real_path(str(p).replace("gs://bucket", str(tmp_path))))
  assert inverter.load_config("gs://bucket/run").seed == 3
  digests = inverter.release_digests("gs://bucket/run")
  assert list(digests) == ["generator/d/chunk", "config.json:seed"]
