"""Security tests reuse the alert tests' warehouse fixture."""

from tests.alerts.conftest import duck  # noqa: F401 - re-exported fixture
