"""The reading side of a file import, run as a second process: rows in, validated batches out.

Parsing and validating rows is Python work, and so is storing them; in one process they take
turns on the interpreter lock, so a reading thread overlapped nothing. In a process of its
own the reader keeps a second core busy while the importer stores the previous batch.

The child writes pickled ``(records, errors)`` batches to its stdout, each after its length,
and ``None`` at the end. The read-ahead is bounded: the child blocks once a batch waits.
"""

from __future__ import annotations

import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, BinaryIO

from townhall.conversations.readers import Batch, FileFormat, batches, read_file


def read_batches(path: str, file_format: FileFormat | None, size: int) -> Iterator[Batch]:
    """The file's rows in batches (see ``readers.batches``)."""
    return batches(read_file(path, file_format), size)


def read_in_child(path: str, file_format: FileFormat | None, size: int) -> Iterator[Batch]:
    """``read_batches`` run in a child process; its failure is raised here."""
    open(path, "rb").close()  # a missing or unreadable file fails here, as it would in-process
    command = [sys.executable, "-m", __name__, path, file_format or "", str(size)]
    with tempfile.TemporaryFile() as problems:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=problems)
        assert child.stdout is not None
        receiver = _Receiver(child.stdout)
        try:
            while (frame := receiver.next_frame()) is not None:
                batch: Batch | None = pickle.loads(frame)
                if batch is None:
                    return
                yield batch
            status = child.wait()
            problems.seek(0)
            lines = problems.read().decode("utf-8", "replace").strip().splitlines()
            reason = lines[-1] if lines else f"the reader exited with status {status}"
            raise RuntimeError(f"reading {path} failed: {reason}")
        finally:
            # Stops a reader still running (the importer stopped early); a finished one is gone.
            child.kill()
            receiver.close()
            child.wait()


class _Receiver:
    """Takes the child's frames off the pipe in a thread, one batch ahead of the importer.

    The child can only pass the pipe's 64 KB at a time; without someone reading, it would
    wait for the importer before it could parse the next batch. Reading the pipe releases
    the interpreter lock; the frames are unpickled by the importer itself.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._frames: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="townhall-import-receiver")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            header = self._stream.read(_HEADER)
            frame = None
            if len(header) == _HEADER:
                length = int.from_bytes(header, "little")
                frame = self._stream.read(length)
                if len(frame) < length:  # the child died while writing it
                    frame = None
            if not self._offer(frame) or frame is None:
                return

    def _offer(self, frame: bytes | None) -> bool:
        while not self._stop.is_set():
            try:
                self._frames.put(frame, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next_frame(self) -> bytes | None:
        """The next frame, or None when the pipe ended."""
        return self._frames.get()

    def close(self) -> None:
        """Stop taking frames; the child must be gone (its end of the pipe closed) first."""
        self._stop.set()
        self._thread.join()
        self._stream.close()


_HEADER = 8  # bytes of a frame's length


def _send(out: BinaryIO, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(_HEADER, "little"))
    out.write(data)
    out.flush()


def main(argv: list[str]) -> None:
    path, file_format, size = argv
    out = sys.stdout.buffer
    for batch in read_batches(path, file_format or None, int(size)):  # type: ignore[arg-type]
        _send(out, batch)
    _send(out, None)


if __name__ == "__main__":
    main(sys.argv[1:])
