"""A real SMTP server for email tests (aiosmtpd): STARTTLS required, AUTH PLAIN/LOGIN required.

Usage: smtp_server.py DIRECTORY
Makes a self-signed certificate in DIRECTORY (openssl), prints "port N" once listening, and writes
each received message to DIRECTORY/message-N.eml with a first line "X-Envelope: from -> to,to".
Accepts user "alerts" with password "s3cret" only.
"""
import asyncio
import os
import socket
import ssl
import subprocess
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

directory = sys.argv[1]
cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)


class Handler:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Handler.count += 1
        path = os.path.join(directory, f"message-{Handler.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Envelope: {envelope.mail_from} -> {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                        authenticator=authenticator, auth_required=True, auth_require_tls=True)
controller.start()
print("port", port, flush=True)
try:
    asyncio.get_event_loop().run_forever()
except KeyboardInterrupt:
    pass
finally:
    controller.stop()
