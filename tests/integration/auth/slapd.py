"""A throwaway OpenLDAP server for tests: slapd with a `slapd.conf`, an mdb database loaded with `slapadd`,
listening on a free port of 127.0.0.1 in the foreground until `stop()`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMAS = Path("/etc/ldap/schema")
BASE_DN = "dc=example,dc=org"
MANAGER_DN = f"cn=admin,{BASE_DN}"
MANAGER_PASSWORD = "manager-secret"


def available() -> bool:
    return Path(SLAPD).exists() and Path(SLAPADD).exists() and (SCHEMAS / "inetorgperson.schema").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(directory: Path) -> str:
    candidates = (Path("/usr/lib/ldap"), Path("/usr/lib/openldap"))
    modules = next((p for p in candidates if (p / "back_mdb.la").exists()), None)
    load = f"modulepath {modules}\nmoduleload back_mdb\n" if modules else ""
    return f"""\
include {SCHEMAS}/core.schema
include {SCHEMAS}/cosine.schema
include {SCHEMAS}/inetorgperson.schema
pidfile {directory}/slapd.pid
argsfile {directory}/slapd.args
{load}
database mdb
maxsize 10485760
suffix "{BASE_DN}"
rootdn "{MANAGER_DN}"
rootpw {MANAGER_PASSWORD}
directory {directory}/data
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
"""


def _entry(dn: str, **attributes: str | list[str]) -> str:
    lines = [f"dn: {dn}"]
    for name, values in attributes.items():
        for value in [values] if isinstance(values, str) else values:
            lines.append(f"{name}: {value}")
    return "\n".join(lines) + "\n"


def _person(uid: str, password: str) -> str:
    return _entry(
        f"uid={uid},ou=people,{BASE_DN}",
        objectClass="inetOrgPerson",
        uid=uid,
        cn=uid.title(),
        sn=uid.title(),
        mail=f"{uid}@example.org",
        userPassword=password,
    )


PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password", "dave": "dave-password"}


def directory_ldif() -> str:
    """alice: Developers (groupOfUniqueNames); bob: QA (groupOfNames, `member`); carol: SRE-Admins; dave: none."""
    people = f"ou=people,{BASE_DN}"
    entries = [
        _entry(BASE_DN, objectClass=["dcObject", "organization"], dc="example", o="Example"),
        _entry(people, objectClass="organizationalUnit", ou="people"),
        _entry(f"ou=groups,{BASE_DN}", objectClass="organizationalUnit", ou="groups"),
        *(_person(uid, password) for uid, password in PASSWORDS.items()),
        _entry(
            f"cn=Developers,ou=groups,{BASE_DN}",
            objectClass="groupOfUniqueNames",
            cn="Developers",
            uniqueMember=[f"uid=alice,{people}", f"uid=carol,{people}"],
        ),
        _entry(
            f"cn=SRE-Admins,ou=groups,{BASE_DN}",
            objectClass="groupOfUniqueNames",
            cn="SRE-Admins",
            uniqueMember=f"uid=carol,{people}",
        ),
        _entry(f"cn=QA,ou=groups,{BASE_DN}", objectClass="groupOfNames", cn="QA", member=f"uid=bob,{people}"),
    ]
    return "\n".join(entries)


class Slapd:
    """`with Slapd(tmp_path) as ldap:` serves the directory above on `ldap.url` until the block ends."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Slapd:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        conf = self.directory / "slapd.conf"
        conf.write_text(_config(self.directory))
        (self.directory / "directory.ldif").write_text(directory_ldif())
        subprocess.run(
            [SLAPADD, "-f", str(conf), "-l", str(self.directory / "directory.ldif")],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self._process = subprocess.Popen(
            [SLAPD, "-f", str(conf), "-h", f"{self.url}/", "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"slapd exited with {self._process.returncode}: {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("slapd did not start listening within 15 s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
        shutil.rmtree(self.directory / "data", ignore_errors=True)
