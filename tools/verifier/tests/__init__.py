"""Unit tests of the verifier on published vectors and hand-built records (run by PythonVerifierTests)."""
