"""C2SP signed notes and verifier keys against the Go sumdb note vector."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

from verifier import notes

VECTOR = json.loads(
    (Path(__file__).resolve().parents[3] / "Fixtures/signed-note/go-sumdb-note-vector.json").read_text())


class NoteTests(unittest.TestCase):
    """Key ids, signature lines and Ed25519 signatures."""

    def test_the_go_vector_verifies(self) -> None:
        key = notes.VerifierKey.parse(VECTOR["verifier_key"])
        self.assertEqual(key.key_id.hex(), "c74f20a3")
        note = notes.SignedNote.parse(VECTOR["signed_note"])
        self.assertEqual(note.text, VECTOR["text"])
        note.verify(key)

    def test_a_changed_text_does_not_verify(self) -> None:
        key = notes.VerifierKey.parse(VECTOR["verifier_key"])
        note = notes.SignedNote.parse(VECTOR["signed_note"].replace("answer", "problem", 1))
        with self.assertRaises(notes.NoteError):
            note.verify(key)

    def test_a_wrong_key_id_is_rejected(self) -> None:
        name, _, key = VECTOR["verifier_key"].split("+")
        with self.assertRaisesRegex(notes.NoteError, "is not c74f20a3"):
            notes.VerifierKey.parse(f"{name}+c74f20a4+{key}")

    def test_a_note_without_a_signature_by_the_key_is_rejected(self) -> None:
        key = notes.VerifierKey.parse(VECTOR["verifier_key"])
        other = VECTOR["signed_note"].replace("— PeterNeumann", "— Someone")
        with self.assertRaisesRegex(notes.NoteError, "no signature by key PeterNeumann"):
            notes.SignedNote.parse(other).verify(key)


if __name__ == "__main__":
    unittest.main()
