"""PostgreSQL over verified TLS: ``sslmode=verify-full`` with a test CA against a real server
with ssl=on; a server the CA did not sign is refused with one clear line."""

from __future__ import annotations

import os
import shutil

import pytest

from finlib.errors import WarehouseError
from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from tests.pg_server import PostgresServer

from .certs import make_pki

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory):
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    other = make_pki(tmp_path_factory.mktemp("other"))  # a CA that did not sign the server
    server = PostgresServer()
    cert, key = server.root / "server.pem", server.root / "server.key"
    shutil.copy(pki.cert, cert)
    shutil.copy(pki.key, key)
    key.chmod(0o600)
    if server.as_root:
        for p in (cert, key):
            shutil.chown(p, "postgres", "postgres")
    server.options = f"-c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}"
    server.start()
    name = "finlib_tls"
    url = server.create_database(name)
    yield url, pki, other
    server.stop()


def test_verify_full_connects_encrypted_and_works(tls_pg, monkeypatch):
    url, pki, _ = tls_pg
    for host in ("127.0.0.1", "localhost"):
        u = url.replace("127.0.0.1", host) + f"?sslmode=verify-full&sslrootcert={pki.ca}"
        monkeypatch.setenv("FINLIB_DB_URL", u)
        wh = get_warehouse()
        init_db(wh)
        with wh.connect(read_only=True) as c:
            ssl_on, version = c.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0]
            assert ssl_on is True and version.startswith("TLS")
            assert c.table_exists("invoices")


def test_a_server_the_ca_did_not_sign_is_refused_clearly(tls_pg):
    url, _, other = tls_pg
    wh = get_warehouse(url + f"?sslmode=verify-full&sslrootcert={other.ca}")
    with pytest.raises(WarehouseError, match="certificate verify failed"):
        with wh.connect():
            pass


def test_a_name_the_certificate_does_not_cover_is_refused(tls_pg):
    url, pki, _ = tls_pg
    # hostaddr keeps the connection on 127.0.0.1 while verify-full checks the name asked for
    wh = get_warehouse(url.replace("127.0.0.1", "db.example.com")
                       + f"?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={pki.ca}")
    with pytest.raises(WarehouseError, match="does not match host name"):
        with wh.connect():
            pass
    assert os.path.exists(pki.ca)
