"""Fixtures of the packaging tests: the image built once per session from `make dist`'s
binary, and podman with its own storage under target/, every container removed after
each test (also a failed one)."""
import shutil

import pytest

from support import ROOT, Podman, build_image

STATE = ROOT / "target" / "packaging-test"


@pytest.fixture(scope="session")
def built():
    """(archive, digest) of the image, built from the static binary with scripts/image.sh."""
    if STATE.exists():
        shutil.rmtree(STATE)
    STATE.mkdir(parents=True)
    archive = STATE / "keygate.oci.tar"
    return archive, build_image(archive, STATE / "buildah")


@pytest.fixture(scope="session")
def podman_session(built):
    pm = Podman(STATE / "podman")
    image = pm.load(built[0])
    yield pm, image
    pm.cleanup()
    pm("system", "reset", "--force", check=False)


@pytest.fixture
def podman(podman_session):
    """(podman, image reference); the test's containers and volumes go at teardown."""
    pm, image = podman_session
    yield pm, image
    pm.cleanup()
