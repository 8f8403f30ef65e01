#!/usr/bin/env python3
"""Makes examples/spam_classifier/testdata/: a small slice of the SpamAssassin corpus for the
CI smoke test of the spam_classifier example (CTest: example_spam_classifier_smoke).

    bash scripts/fetch_data.sh spam-assassin
    python3 examples/spam_classifier/make_testdata.py            # or: ... make_testdata.py DATA_DIR

From each group it takes, in file-name order, the first messages that are small once trimmed:
the headers are cut down to those a reader sees (From, To, Subject, Date) and those that say
how the body is encoded (MIME-Version, Content-Type, Content-Transfer-Encoding), and a message
is kept when the trimmed file is at most MAX_BYTES long. The layout is the corpus's own,
testdata/<group>/NNNNN.<md5>.txt, where <md5> is the MD5 of the trimmed file (as in the
corpus, where it is the MD5 of the message). The .json twins of the corpus are not copied:
the example reads only the .txt files. The output is deterministic.
"""
import hashlib
import pathlib
import shutil
import sys

GROUPS = {"easy-ham-1": 12, "easy-ham-2": 8, "hard-ham-1": 6, "spam-1": 10, "spam-2": 12}
MAX_BYTES = 1800
KEPT_HEADERS = ("from:", "to:", "subject:", "date:", "mime-version:", "content-type:",
                "content-transfer-encoding:")


def trimmed(message: bytes) -> bytes:
    """The message with only KEPT_HEADERS (continuation lines included) and its whole body."""
    message = message.replace(b"\r\n", b"\n")
    headers, separator, body = message.partition(b"\n\n")
    kept, keeping = [], False
    for line in headers.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if keeping:
                kept.append(line)
            continue
        keeping = line.decode("latin-1").lower().startswith(KEPT_HEADERS)
        if keeping:
            kept.append(line)
    return b"\n".join(kept) + b"\n\n" + body


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent
    data = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else root.parents[1] / "data" / "spam-assassin")
    if (data / "data").is_dir():
        data = data / "data"
    if not all((data / group).is_dir() for group in GROUPS):
        print(f"make_testdata: no SpamAssassin corpus in {data}; fetch it with\n"
              f"  bash scripts/fetch_data.sh spam-assassin", file=sys.stderr)
        return 1
    output = root / "testdata"
    shutil.rmtree(output, ignore_errors=True)
    total = 0
    for group, wanted in GROUPS.items():
        (output / group).mkdir(parents=True)
        taken = 0
        for path in sorted((data / group).glob("*.txt")):
            message = trimmed(path.read_bytes())
            if len(message) > MAX_BYTES:
                continue
            number = path.name.split(".")[0]
            (output / group / f"{number}.{hashlib.md5(message).hexdigest()}.txt").write_bytes(message)
            total += len(message)
            taken += 1
            if taken == wanted:
                break
        print(f"{group}: {taken} messages")
    print(f"wrote {sum(GROUPS.values())} messages, {total} bytes, to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
