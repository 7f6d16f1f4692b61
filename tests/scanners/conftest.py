"""The sample tree the scanner tests run over: files in which keygate keys, mistyped keys
and lookalikes are planted on known lines.

Keys are made here from scratch (not with the plugin under test), from the description
in src/token.rs, and test_scanners.py checks this maker against the Rust test vector.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNERS = ROOT / "deploy" / "scanners"
PLUGIN = SCANNERS / "detect_secrets_keygate.py"
GITLEAKS_TOML = SCANNERS / "gitleaks.toml"
GITHUB_PATTERN = SCANNERS / "github-custom-pattern.yml"

# src/token.rs: the key for the random bytes 0x00..0x1f with the prefix `kg`.
VECTOR_KEY = "kg_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf4DqIjo"

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(number: int, width: int) -> str:
    out = ""
    for _ in range(width):
        number, rest = divmod(number, 62)
        out = DIGITS[rest] + out
    assert number == 0, "does not fit"
    return out


def make_key(prefix: str, random_bytes: bytes) -> str:
    head = prefix + "_" + base62(int.from_bytes(random_bytes, "big"), 43)
    return head + base62(zlib.crc32(head.encode()), 6)


def change_char(key: str, index: int) -> str:
    """`key` with the character at `index` replaced by the next base62 digit."""
    c = key[index]
    return key[:index] + DIGITS[(DIGITS.index(c) + 1) % 62] + key[index + 1:]


# What a planted string is, and so which scanner must report it:
VALID = "valid"  # a real `kg_` key: every scanner
BROKEN = "broken"  # right shape, wrong checksum: gitleaks and GitHub, not detect-secrets
LOOKALIKE = "lookalike"  # wrong shape or glued to other text: nobody
OTHER_PREFIX = "other-prefix"  # a real `acme_` key: only with KEYGATE_KEY_PREFIX=acme
OTHER_PREFIX_BROKEN = "other-prefix-broken"  # an `acme_` key with a wrong checksum


@dataclass(frozen=True)
class Planted:
    path: str  # relative to the tree, with `/`
    line: int  # 1-based
    text: str  # the planted string (for a VALID/BROKEN key, exactly the key)
    kind: str


@dataclass
class SampleTree:
    root: Path
    planted: List[Planted]

    def expect(self, *kinds: str) -> Set[Tuple[str, int, str]]:
        """(path, line, key) of everything planted of these kinds."""
        return {(p.path, p.line, p.text) for p in self.planted if p.kind in kinds}

    def files(self) -> Dict[str, str]:
        """Every file of the tree: relative path → text."""
        out = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                out[path.relative_to(self.root).as_posix()] = path.read_text()
        return out


class _Builder:
    def __init__(self, root: Path):
        self.root = root
        self.lines: Dict[str, List[str]] = {}
        self.planted: List[Planted] = []

    def plain(self, path: str, line: str) -> None:
        self.lines.setdefault(path, []).append(line)

    def plant(self, path: str, template: str, *items: Tuple[str, str]) -> None:
        """Appends `template` with each `@@` replaced by the text of one (kind, text)."""
        lines = self.lines.setdefault(path, [])
        assert template.count("@@") == len(items)
        line = template
        for kind, text in items:
            line = line.replace("@@", text, 1)
            self.planted.append(Planted(path, len(lines) + 1, text, kind))
        lines.append(line)

    def write(self) -> SampleTree:
        for path, lines in self.lines.items():
            f = self.root / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("\n".join(lines) + "\n")
        return SampleTree(self.root, self.planted)


def build_tree(root: Path) -> SampleTree:
    rng = random.Random(20240531)  # the same tree on every run

    def key(prefix: str = "kg") -> str:
        return make_key(prefix, rng.randbytes(32))

    def noise(alphabet: str, n: int = 49) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    lower, upper = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    b = _Builder(root)

    # Code.
    f = "src/client.py"
    b.plain(f, '"""A client of a keygate-protected API."""')
    b.plain(f, "import os")
    b.plant(f, 'API_KEY = "@@"', (VALID, key()))
    b.plant(f, 'HEADERS = {"Authorization": "Bearer @@"}', (VALID, key()))
    # One character of the random part changed.
    b.plant(f, 'FALLBACK_KEY = "@@"  # mistyped', (BROKEN, change_char(key(), 20)))
    b.plain(f, 'KEY_PREFIX = "kg_"')
    b.plain(f, "kg_settings_loader = None  # an identifier, not a key")

    # .env
    f = "config/.env"
    b.plain(f, "# staging")
    b.plant(f, "KEYGATE_API_KEY=@@", (VALID, key()))
    # One character of the checksum changed.
    b.plant(f, "OLD_KEYGATE_API_KEY=@@", (BROKEN, change_char(key(), -2)))
    b.plant(f, "PARTNER_API_KEY=@@", (OTHER_PREFIX, key("acme")))
    b.plant(f, "LOWER_NOISE=@@", (LOOKALIKE, "kg_" + noise(lower + "0123456789")))

    # YAML
    f = "deploy/values.yaml"
    b.plain(f, "keygate:")
    b.plain(f, "  url: https://keygate.example")
    b.plant(f, "  apiKey: @@", (VALID, key()))
    b.plant(f, '  previousKey: "@@"', (BROKEN, change_char(key(), 3)))
    b.plant(f, "  otherKey: @@", (LOOKALIKE, "kgx_" + key()[3:]))
    b.plant(f, "  shoutedKey: @@", (LOOKALIKE, "KG_" + key()[3:]))

    # JSON
    k = key()
    f = "fixtures/keys.json"
    b.plain(f, "{")
    b.plant(f, '  "primary": "@@",', (VALID, key()))
    b.plant(f, '  "short": "@@",', (LOOKALIKE, k[:-1]))  # 48 characters after kg_
    b.plant(f, '  "long": "@@",', (LOOKALIKE, k + "x"))  # 50 characters after kg_
    b.plant(f, '  "upper": "@@",', (LOOKALIKE, "kg_" + noise(upper + "0123456789")))
    b.plant(f, '  "partner": "@@"', (OTHER_PREFIX_BROKEN, change_char(key("acme"), 30)))
    b.plain(f, "}")

    # CSV: two keys on one line, one character apart.
    f = "exports/keys.csv"
    b.plain(f, "owner,key,previous")
    b.plant(f, "ci,@@,@@", (VALID, key()), (VALID, key()))

    # Prose with lookalikes.
    f = "docs/notes.md"
    b.plain(f, "# Notes")
    b.plant(f, "glued before: x@@", (LOOKALIKE, key()))
    b.plant(f, "glued after: @@Z9", (LOOKALIKE, key()))
    b.plant(f, "inside a word: prefix@@suffix", (LOOKALIKE, key()))
    b.plant(f, "in a hex dump: 0@@", (LOOKALIKE, key()))
    b.plant(f, "lower-case filler: @@", (LOOKALIKE, "kg_" + noise(lower)))
    b.plant(f, "a URL: https://api.example/v1?key=@@&page=2", (VALID, key()))
    b.plain(f, "the end")

    tree = b.write()
    # The lookalikes built from real keys must be lookalikes only because of their
    # surroundings; the broken ones must really be broken.
    for p in tree.planted:
        if p.kind in (BROKEN, OTHER_PREFIX_BROKEN):
            head = p.text[:-6]
            assert base62(zlib.crc32(head.encode()), 6) != p.text[-6:], p
    return tree


@pytest.fixture(scope="session")
def sample_tree(tmp_path_factory) -> SampleTree:
    return build_tree(tmp_path_factory.mktemp("scanner-sample"))


def _env(**extra: str) -> Dict[str, str]:
    """The environment for a scanner: none of the variables that would change what it
    reads, except those given."""
    drop = ("KEYGATE_KEY_PREFIX", "GITLEAKS_CONFIG", "GITLEAKS_CONFIG_TOML")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def detect_secrets_builtin_plugins() -> List[str]:
    """Class names of detect-secrets' own plugins, to switch them all off."""
    proc = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "--list-all-plugins"],
        capture_output=True, text=True, env=_env(),
    )
    if proc.returncode != 0:
        pytest.fail(
            "detect-secrets does not run (scripts/scanners-deps.sh installs it):\n" + proc.stderr
        )
    names = proc.stdout.split()
    assert "AWSKeyDetector" in names, proc.stdout
    return names


@pytest.fixture(scope="session")
def run_detect_secrets(detect_secrets_builtin_plugins):
    """Runs `detect-secrets scan --all-files` with only the keygate plugin on `root`;
    returns its `results` (file → findings)."""

    def run(root: Path, *extra_args: str, **env: str) -> Dict[str, list]:
        disable = [a for name in detect_secrets_builtin_plugins for a in ("--disable-plugin", name)]
        proc = subprocess.run(
            [sys.executable, "-m", "detect_secrets", "scan", "--all-files",
             "--plugin", str(PLUGIN), *disable, *extra_args, "."],
            cwd=root, capture_output=True, text=True, env=_env(**env),
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        used = [p["name"] for p in out["plugins_used"]]
        assert used == ["KeygateKeyDetector"], used
        return out["results"]

    return run


def gitleaks_binary() -> str:
    """gitleaks from $GITLEAKS or PATH, or '' when there is none."""
    explicit = os.environ.get("GITLEAKS")
    if explicit:
        return explicit
    return shutil.which("gitleaks") or ""
