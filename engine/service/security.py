"""Who may talk to an engine: loopback freely; anything else only with CURVE (ZeroMQ's
encryption and client authentication against an allow-list of public keys), unless the
operator explicitly says `--insecure`."""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import zmq

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
log = logging.getLogger("daw-diffusion.security")


class DenialsLogged(logging.LoggerAdapter):
    """pyzmq's authenticator says "DENIED" at debug level only: an operator should see it."""

    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        text = str(msg) % args if args else str(msg)
        if text.startswith("DENIED"):
            self.logger.warning("refused a client that is not among --curve-clients: %s", text)
        else:
            self.logger.debug("%s", text)


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

    check_private(secret_file)
    public, secret = zmq.auth.load_certificate(str(secret_file))
    if secret is None:
        raise SecurityError(f"{secret_file}: holds no secret key")
    if clients is None or not Path(clients).is_dir():
        raise SecurityError("CURVE needs --curve-clients: a folder of the allowed clients' public keys")
    auth = ThreadAuthenticator(context, log=DenialsLogged(log, {}))
    auth.start()
    auth.configure_curve(domain="*", location=str(clients))
    sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    return auth


def check_private(secret_file: Path) -> None:
    """A secret key file must be readable by its owner alone."""
    try:
        mode = Path(secret_file).stat().st_mode
    except OSError as exc:
        raise SecurityError(f"{secret_file}: cannot read the secret key ({exc.strerror})") from None
    if mode & 0o077:
        raise SecurityError(f"{secret_file}: other users can read or change this secret key (mode "
                            f"{stat.S_IMODE(mode):04o}); make it private with: chmod 600 '{secret_file}'")


def create_keys(folder: Path, name: str) -> tuple[Path, Path]:
    """`NAME.key` (public, to hand out) and `NAME.key_secret` (keep private, mode 0600) in
    `folder` (made 0700). They are made in a private folder beside them and linked into place,
    so the secret is never readable by others, not even for a moment, and nothing is overwritten."""
    import zmq.auth

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    targets = [folder / f"{name}{suffix}" for suffix in (".key", ".key_secret")]
    for target in targets:
        if target.exists():
            raise FileExistsError(f"{target} exists; keys are never overwritten")
    private = Path(tempfile.mkdtemp(prefix=".keys-", dir=folder))  # 0700
    try:
        made = [Path(p) for p in zmq.auth.create_certificates(str(private), name)]
        made[0].chmod(0o644)
        made[1].chmod(0o600)
        linked: list[Path] = []
        try:
            for source, target in zip(made, targets):
                os.link(source, target)  # fails rather than replace a file made meanwhile
                linked.append(target)
        except FileExistsError:
            for target in linked:
                target.unlink()
            raise FileExistsError(f"{target} appeared while the keys were made; keys are never overwritten") from None
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return targets[0], targets[1]
