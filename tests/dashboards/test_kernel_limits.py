"""Kernels are bounded per user, and a kernel whose page never connects is shut down."""

from __future__ import annotations

import re
import time
import urllib.error

import pytest

from tests.dashboards.conftest import FIXTURE_NOTEBOOKS
from tests.dashboards.logins import password
from tests.dashboards.test_access_server import fetch

pytestmark = [pytest.mark.browser]
KID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_kernels_per_user_are_bounded_and_unconnected_ones_culled(fixture_db_url, tmp_path):
    from finlib.dashboards.harness import DashboardServer

    env = {"FINLIB_KERNELS_PER_USER": "2", "FINLIB_UNCONNECTED_KERNEL_SECONDS": "45", "FINLIB_LOGIN_RATE": "3"}
    with DashboardServer(FIXTURE_NOTEBOOKS, fixture_db_url, pool_size=0, env=env,
                         log_path=tmp_path / "voila.log") as srv:
        s = srv.login("exec", password("exec"))
        other = srv.login("admin", password("admin"))
        srv.login("exec", password("exec"))
        # password attempts per address are rate limited (3 a minute here): the 4th is 429
        with pytest.raises(urllib.error.HTTPError) as err:
            srv.login("exec", password("exec"))
        assert err.value.code == 429
        kids = []
        for _ in range(2):
            status, _, body = fetch(srv, "voila/render/kpi_fixture.ipynb", s)
            assert status == 200
            kids.append(KID.search(body).group(0))
        status, _, body = fetch(srv, "voila/render/kpi_fixture.ipynb", s)
        assert status == 429 and not KID.search(body)
        # another user is not held back by this one
        assert fetch(srv, "voila/render/kpi_fixture.ipynb", other)[0] == 200
        # nobody connected to those pages: their kernels are shut down within the limit
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and any(fetch(srv, f"api/kernels/{k}", s)[0] == 200 for k in kids):
            time.sleep(2)
        assert all(fetch(srv, f"api/kernels/{k}", s)[0] in (403, 404) for k in kids)
        assert "page never connected" in srv.log()
        assert fetch(srv, "voila/render/kpi_fixture.ipynb", s)[0] == 200  # room again

