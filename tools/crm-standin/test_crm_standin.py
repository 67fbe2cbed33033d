"""Unit tests of the stand-in's own behaviour: `python3 -m unittest discover -s tools/crm-standin`."""

import contextlib
import io
import socket
import threading
import time
import unittest
import urllib.request

from crm_standin import Faults, Handler, StandInServer, Store


class HangUpTests(unittest.TestCase):
    def setUp(self):
        self.server = StandInServer(("127.0.0.1", 0), Handler)
        self.server.store = Store(":memory:")
        self.server.token = "t"
        self.server.verbose = False
        self.server.faults = Faults()
        self.server.stats_lock = threading.Lock()
        self.server.stats = {"requests": {}, "writes": {}, "total": 0}
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = "http://%s:%d" % self.server.server_address[:2]

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_a_client_hanging_up_prints_no_traceback(self):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                raise BrokenPipeError(32, "Broken pipe")
            except BrokenPipeError:
                self.server.handle_error(None, ("127.0.0.1", 1))
        self.assertEqual(stderr.getvalue(), "")

    def test_other_errors_still_print_their_traceback(self):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                raise KeyError("unexpected")
            except KeyError:
                self.server.handle_error(None, ("127.0.0.1", 1))
        self.assertIn("KeyError", stderr.getvalue())

    def test_the_server_answers_after_a_client_hung_up_on_a_delayed_answer(self):
        self.server.faults.update({"delay_ms": 300, "delay_next": 1})
        client = socket.create_connection(self.server.server_address[:2])
        client.sendall(b"GET /services/data/v60.0/sobjects/VoiceCall/VendorCallKey/x HTTP/1.1\r\n"
                       b"Host: x\r\nAuthorization: Bearer t\r\n\r\n")
        client.close()
        time.sleep(0.5)
        request = urllib.request.Request(self.address + "/__stats")
        with urllib.request.urlopen(request, timeout=5) as answer:
            self.assertEqual(answer.status, 200)


if __name__ == "__main__":
    unittest.main()
