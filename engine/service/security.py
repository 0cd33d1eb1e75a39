"""Who may talk to an engine: loopback freely; anything else only with CURVE (ZeroMQ's
encryption and client authentication against an allow-list of public keys), unless the
operator explicitly says `--insecure`."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import zmq

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class SecurityError(Exception):
    code = "insecure_bind"


def is_local(endpoint: str) -> bool:
    """inproc/ipc endpoints and TCP on a loopback address are local."""
    scheme = endpoint.split("://", 1)[0]
    if scheme in ("inproc", "ipc"):
        return True
    host = urlsplit(endpoint.replace("tcp://", "//", 1)).hostname or ""
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(endpoint: str, insecure: bool) -> None:
    if not is_local(endpoint) and not insecure:
        raise SecurityError(
            f"{endpoint} is reachable from other machines: give CURVE keys (--curve-secret and "
            "--curve-clients; `daw-diffusion keys` makes them) or, on a trusted network only, --insecure")


def curve_server(context: zmq.Context, sock: zmq.Socket, secret_file: Path, clients: Path | None):
    """Make `sock` a CURVE server that admits only the public keys in `clients` (a folder of
    `*.key` files). Returns the running authenticator (stop it when done)."""
    from zmq.auth.thread import ThreadAuthenticator

    public, secret = zmq.auth.load_certificate(str(secret_file))
    if secret is None:
        raise SecurityError(f"{secret_file}: holds no secret key")
    if clients is None or not Path(clients).is_dir():
        raise SecurityError("CURVE needs --curve-clients: a folder of the allowed clients' public keys")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(clients))
    sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    return auth


def create_keys(folder: Path, name: str) -> tuple[Path, Path]:
    """`NAME.key` (public, to hand out) and `NAME.key_secret` (keep private) in `folder`."""
    import zmq.auth

    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".key", ".key_secret"):
        if (folder / f"{name}{suffix}").exists():
            raise FileExistsError(f"{folder / (name + suffix)} exists; keys are never overwritten")
    public, secret = zmq.auth.create_certificates(str(folder), name)
    return Path(public), Path(secret)
