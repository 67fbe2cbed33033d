"""An independent verifier of CallLedger ledgers and proofs, written from FORMAT.md alone.

It reads a ledger directory (or a proof printed by ``call-ledger prove``) with the Python standard
library plus two PyPI packages, ``zstandard`` (zstd frames) and ``cryptography`` (Ed25519, AES-GCM), and shares
no code with the Swift implementation. Modules:

- ``encoding``: varints, zigzag integers, length-prefixed strings (FORMAT.md conventions).
- ``zstdframes``: finding and decompressing the zstd frames of a segment (FORMAT.md §2, RFC 8878).
- ``records``: frame contents, records, entries and leaf hashes (FORMAT.md §2, §3, §5).
- ``merkle``: RFC 6962 / RFC 9162 hashing, the running tree, inclusion and consistency proofs.
- ``notes``: C2SP signed notes, verifier keys and tlog checkpoints (FORMAT.md §7).
- ``ledger``: verifying a whole ledger directory (FORMAT.md §11).
- ``proofs``: verifying one ``prove inclusion`` / ``prove consistency`` JSON document.
- ``schemas``, ``values``: the field names of FORMAT.md §10; decoding §4 values and rendering events as
  ``call-ledger cat`` does.
- ``redaction``: verifying a ``prove redaction`` JSON document (FORMAT.md §12.1).
- ``bundle``: verifying an ``audit export`` bundle, opening its sealed parts with AES-GCM (FORMAT.md §12.2).
- ``__main__``: the command line (``tools/verify``).
"""
