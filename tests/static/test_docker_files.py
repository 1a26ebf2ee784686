"""Keeps the Docker deployment in step with the local launcher and the node.

scripts/compose-test builds the images and runs the compose cluster where a
Docker engine can run; these checks run everywhere, without one:
docker/Dockerfile, the compose files and nginx/compose.conf are checked
against scripts/cluster (ports, node ids, the shared nginx file),
core/config.cc (the CLUSTERLITE_* variables), the node binary of this build
(`--check-config` on docker/clusterlite.json with each node's environment; the
shared libraries it loads) and nginx itself (`nginx -t`).
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CLUSTERLITE_BUILD_DIR", REPO / "build")).resolve()
NODES = ("node-1", "node-2", "node-3")
CONFIG_IN_IMAGE = "/etc/clusterlite/clusterlite.json"
NGINX_SHARED_IN_IMAGE = "/etc/nginx/clusterlite/clusterlite.conf"


def read(rel):
    return (REPO / rel).read_text()


def load_yaml(rel):
    return yaml.safe_load(read(rel))


@pytest.fixture(scope="module")
def compose():
    return load_yaml("compose.yaml")


@pytest.fixture(scope="module")
def shared_override():
    return load_yaml("compose.shared.yaml")


@pytest.fixture(scope="module")
def kafka_override():
    return load_yaml("compose.kafka.yaml")


@pytest.fixture(scope="module")
def local_override():
    return load_yaml("compose.local.yaml")


# ---------------------------------------------------------------- Dockerfile


DOCKERFILES = ("docker/Dockerfile", "docker/kafka/Dockerfile", "docker/nginx/Dockerfile")


def global_args(rel="docker/Dockerfile"):
    """{name: default} of the ARG lines before the first FROM."""
    out = {}
    for line in re.sub(r"\\\n", " ", read(rel)).splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            break
        if line.upper().startswith("ARG "):
            name, _, default = line[4:].strip().partition("=")
            out[name] = default
    return out


def dockerfile_stages(rel="docker/Dockerfile"):
    """[(stage name, [(instruction, arguments)])] with continuation lines joined."""
    text = re.sub(r"\\\n", " ", read(rel))
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "ARG" and not stages:
            continue  # global build arguments (global_args)
        if instr == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append((name, [("FROM", args)]))
        else:
            assert stages, f"instruction before FROM: {line}"
            stages[-1][1].append((instr, args.strip()))
    return stages


def copies(instructions):
    """[(from stage or None, [sources], destination)] of a stage's COPY instructions."""
    out = []
    for instr, args in instructions:
        if instr != "COPY":
            continue
        words = shlex.split(args)
        source_stage = None
        while words[0].startswith("--"):
            flag = words.pop(0)
            if flag.startswith("--from="):
                source_stage = flag[len("--from=") :]
        out.append((source_stage, words[:-1], words[-1]))
    return out


def runtime_stage():
    return dockerfile_stages()[-1][1]


def test_dockerfile_is_multi_stage_on_bookworm():
    assert len(dockerfile_stages()) >= 2, "build and runtime stages expected"


@pytest.mark.parametrize("rel", DOCKERFILES)
def test_every_image_builds_from_debian_bookworm(rel):
    """FROM debian:bookworm-slim by default; BASE_IMAGE names a local bookworm
    image where no registry serves it (docker/base-image, compose.local.yaml)."""
    default = global_args(rel).get("BASE_IMAGE")
    assert default == "debian:bookworm-slim", f"{rel}: ARG BASE_IMAGE defaults to {default!r}"
    names = set()
    for name, instructions in dockerfile_stages(rel):
        image = instructions[0][1].split()[0]
        assert image == "${BASE_IMAGE}" or image in names, f"{rel}: stage {name} is FROM {image}"
        names.add(name)


def test_build_stage_runs_the_ci_steps():
    """The build stage installs with scripts/deps and configures like scripts/test."""
    build = dockerfile_stages()[0][1]
    runs = " && ".join(args for instr, args in build if instr == "RUN")
    assert "./scripts/deps --build-only" in runs
    ci = read("scripts/test")
    configure = re.search(r"^cmake -S \. -B build (.*?)(?: >/dev/null)?$", ci, re.M)
    assert configure, "scripts/test no longer configures with `cmake -S . -B build ...`"
    assert f"cmake -S . -B build {configure.group(1)}" in runs, "the image configures differently from scripts/test"
    assert "cmake --build build" in runs
    # scripts/deps must still accept the flag the image uses.
    assert "--build-only" in read("scripts/deps")


def test_every_copy_source_exists():
    stages = dockerfile_stages()
    ignored = [line.strip().rstrip("/") for line in read(".dockerignore").splitlines()]
    ignored = [p for p in ignored if p and not p.startswith("#")]
    for name, instructions in stages:
        for source_stage, sources, _ in copies(instructions):
            for src in sources:
                if source_stage is None:
                    matches = list(REPO.glob(src.rstrip("/"))) if src not in (".", "./") else [REPO]
                    assert matches, f"stage {name}: COPY source {src} does not exist in the repository"
                    rel = src.rstrip("/")
                    for pattern in ignored:
                        assert not fnmatch.fnmatch(rel, pattern.lstrip("*/")) and not rel.startswith(
                            pattern + "/"
                        ), f"COPY source {src} is excluded by .dockerignore pattern {pattern}"
                else:
                    # Sources from the build stage are its build/ tree: this build has the same files.
                    prefix = "/src/build/"
                    assert src.startswith(prefix), f"COPY --from={source_stage} {src}: expected under {prefix}"
                    rel = src[len(prefix) :]
                    assert list(BUILD.glob(rel)), f"COPY --from={source_stage} {src}: nothing at {BUILD / rel}"


def test_runtime_stage_runs_unprivileged_with_a_health_check():
    stage = runtime_stage()
    users = [args for instr, args in stage if instr == "USER"]
    assert users, "the runtime stage sets no USER (it would run as root)"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the runtime stage runs as {user}"
    checks = [args for instr, args in stage if instr == "HEALTHCHECK"]
    assert checks and "/readyz" in checks[-1], "the runtime stage has no HEALTHCHECK on /readyz"
    assert any(instr == "EXPOSE" for instr, _ in stage)


def test_runtime_paths_match_the_image_config():
    """The config baked into the image points at where the image puts things."""
    stage = runtime_stage()
    dest = {}
    for source_stage, sources, target in copies(stage):
        for src in sources:
            dest[src.rstrip("/")] = target.rstrip("/")
    entry = json.loads([args for instr, args in stage if instr == "ENTRYPOINT"][-1])
    cmd = json.loads([args for instr, args in stage if instr == "CMD"][-1])
    assert entry + cmd == ["/usr/local/bin/clusterlite", "--config", CONFIG_IN_IMAGE]
    assert dest["docker/clusterlite.json"] == CONFIG_IN_IMAGE
    assert dest["/src/build/bin/clusterlite"] == "/usr/local/bin/clusterlite"

    config = image_config()
    assert config["http"]["ui_directory"] == dest["web"]
    assert config["plugins"]["directory"] == dest["/src/build/plugins/*.so"]
    data_dir = str(Path(config["database"]["path"]).parent)
    volumes = [args for instr, args in stage if instr == "VOLUME"]
    assert volumes and volumes[-1].strip() == data_dir, "the image's VOLUME is not the database folder"
    env = dict(args.split("=", 1) for instr, args in stage if instr == "ENV")
    assert env.get("CLUSTERLITE_HTTP_PORT") == str(config["http"]["port"])
    assert [args for instr, args in stage if instr == "EXPOSE"][-1].strip() == str(config["http"]["port"])


def runtime_packages():
    runs = " ".join(args for instr, args in runtime_stage() if instr == "RUN")
    install = re.search(r"apt-get install (.*?)(?:&&|$)", runs)
    assert install, "the runtime stage installs no packages"
    return [w for w in install.group(1).split() if not w.startswith("-")]


def package_closure(names):
    """The installed packages `names` pull in (Depends and Pre-Depends, recursively)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", name], capture_output=True, text=True
        )
        for alternative in out.stdout.split(","):
            dep = alternative.split("|")[0].strip().split(" ")[0].split(":")[0]
            if dep:
                todo.append(dep)
    return seen


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a Debian host (dpkg) to map libraries")
@pytest.mark.skipif(
    os.environ.get("CLUSTERLITE_TEST_SANITIZED") == "1", reason="a sanitizer build loads the sanitizer runtimes"
)
def test_runtime_packages_cover_the_shared_libraries():
    """Every library the binary and plugins load comes from a package the runtime stage installs."""
    listed = runtime_packages()
    for name in listed:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True).stdout
        assert status == "install ok installed", f"runtime package {name} is not a package of this Debian"
    # Present in debian:bookworm-slim itself.
    base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
    closure = package_closure(listed) | base
    files = [BUILD / "bin" / "clusterlite", *sorted((BUILD / "plugins").glob("*.so"))]
    for f in files:
        ldd = subprocess.run(["ldd", str(f)], capture_output=True, text=True, check=True).stdout
        for lib in re.findall(r"=> (/\S+)", ldd):
            real = os.path.realpath(lib)
            owner = None
            for candidate in (lib, real, real.replace("/usr/lib/", "/lib/"), real.replace("/lib/", "/usr/lib/", 1)):
                out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                if out.returncode == 0:
                    owner = out.stdout.split(":")[0]
                    break
            assert owner, f"{f.name} loads {lib}, which no Debian package owns"
            assert owner in closure, f"{f.name} loads {lib} from {owner}, which the runtime stage does not install"


# ---------------------------------------------------------------- the launcher


def launcher_defaults():
    text = read("scripts/cluster")
    http_port = re.search(r"\$\{CLUSTERLITE_CLUSTER_HTTP_PORT:-(\d+)\}", text)
    port_base = re.search(r"\$\{CLUSTERLITE_CLUSTER_NODE_PORT_BASE:-(\d+)\}", text)
    node_id = re.search(r'"node_id": "([a-z-]+)\$\{?[a-z]+\}?"', text)
    assert http_port and port_base and node_id, "scripts/cluster no longer states its ports and node ids this way"
    return int(http_port.group(1)), int(port_base.group(1)), node_id.group(1)


def published(service):
    """{container port: (variable, default host port)} of a compose service:
    every port bound to 127.0.0.1, its host side `${CLUSTERLITE_COMPOSE_..._PORT:-default}`
    so that scripts/compose-test can move it off ports in use."""
    out = {}
    for entry in service.get("ports", []):
        m = re.fullmatch(r"127\.0\.0\.1:\$\{(CLUSTERLITE_COMPOSE_[A-Z0-9_]+_PORT):-(\d+)\}:(\d+)", str(entry))
        assert m, f"port {entry} is not 127.0.0.1:${{CLUSTERLITE_COMPOSE_..._PORT:-N}}:N"
        out[int(m.group(3))] = (m.group(1), int(m.group(2)))
    return out


def test_compose_uses_the_launcher_ports_and_node_ids(compose):
    http_port, port_base, node_prefix = launcher_defaults()
    services = compose["services"]
    assert set(services) == {"broker", *NODES, "nginx"}
    assert published(services["nginx"]) == {http_port: ("CLUSTERLITE_COMPOSE_HTTP_PORT", http_port)}
    for n, name in enumerate(NODES, start=1):
        env = services[name]["environment"]
        port = port_base + n - 1
        assert env["CLUSTERLITE_NODE_ID"] == f"{node_prefix}{n}" == name
        assert env["CLUSTERLITE_HTTP_PORT"] == str(port)
        assert published(services[name]) == {port: (f"CLUSTERLITE_COMPOSE_NODE{n}_PORT", port)}
        assert env["CLUSTERLITE_MODE"] == "replica"


def test_compose_nodes_have_their_own_volumes_and_the_mounted_config(compose):
    services = compose["services"]
    data_dir = str(Path(image_config()["database"]["path"]).parent)
    sources = []
    for name in NODES:
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mounts[CONFIG_IN_IMAGE] == "./docker/clusterlite.json"
        assert mounts[data_dir] in compose["volumes"], f"{name}: {data_dir} is not a named volume"
        assert services[name]["environment"]["CLUSTERLITE_DB_PATH"].startswith(data_dir + "/")
        sources.append(mounts[data_dir])
    assert len(set(sources)) == len(NODES), "replica nodes must not share a database volume"


def test_shared_override_puts_every_node_on_one_volume(compose, shared_override):
    data_dir = str(Path(image_config()["database"]["path"]).parent)
    over = shared_override["services"]
    assert set(over) == set(NODES)
    sources = set()
    for name in NODES:
        assert over[name]["environment"]["CLUSTERLITE_MODE"] == "shared"
        mounts = {v.split(":")[1]: v.split(":")[0] for v in over[name]["volumes"]}
        sources.add(mounts[data_dir])
    assert len(sources) == 1 and sources <= set(shared_override["volumes"])


def test_health_checks_and_start_order(compose):
    services = compose["services"]
    for name, service in services.items():
        check = service.get("healthcheck", {}).get("test")
        assert check and check[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    for name in NODES:
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["depends_on"] == {"broker": {"condition": "service_healthy"}}
    assert services["nginx"]["depends_on"] == {n: {"condition": "service_healthy"} for n in NODES}


def env_names_in_config_cc():
    return set(re.findall(r'env\("(CLUSTERLITE_[A-Z_]+)"\)', read("core/config.cc")))


def test_clusterlite_variables_are_ones_the_node_reads(compose, shared_override):
    known = env_names_in_config_cc()
    assert "CLUSTERLITE_NODE_ID" in known, "core/config.cc no longer reads env(\"CLUSTERLITE_...\") this way"
    used = set()
    for doc in (compose, shared_override):
        for service in doc["services"].values():
            used |= {k for k in service.get("environment", {}) if k.startswith("CLUSTERLITE_")}
    # Variables the image sets (ENV) or reads (${...}); CMake options are not environment variables.
    stage = runtime_stage()
    used |= {args.split("=", 1)[0] for instr, args in stage if instr == "ENV"}
    used |= set(re.findall(r"\$\{?(CLUSTERLITE_[A-Z_]+)", read("docker/Dockerfile")))
    unknown = used - known
    assert not unknown, f"not read by core/config.cc: {sorted(unknown)}"


def test_compose_brokers_name_the_broker_service(compose, kafka_override):
    redpanda = compose["services"]["broker"]
    assert redpanda["image"].startswith("redpandadata/redpanda:v")
    advertised = next(a for a in redpanda["command"] if a.startswith("--advertise-kafka-addr="))
    internal = re.search(r"internal://([^,]+)", advertised).group(1)
    external = re.search(r"external://([^,]+)", advertised).group(1)
    for name in NODES:
        assert compose["services"][name]["environment"]["CLUSTERLITE_KAFKA_BROKERS"] == internal
    # Apache Kafka instead: the same service, addresses and published port.
    kafka = kafka_override["services"]["broker"]
    assert set(kafka_override["services"]) == {"broker"}
    assert kafka["environment"]["KAFKA_INTERNAL_ADDRESS"] == internal
    assert kafka["environment"]["KAFKA_EXTERNAL_ADDRESS"] == external
    assert kafka["build"]["dockerfile"] == "docker/kafka/Dockerfile"
    version = re.search(r'version="\$\{CLUSTERLITE_KAFKA_VERSION:-([0-9.]+)\}"', read("scripts/kafka")).group(1)
    assert kafka["image"] == f"clusterlite-kafka:{version}"
    assert global_args("docker/kafka/Dockerfile") == {"BASE_IMAGE": "debian:bookworm-slim"}
    assert f"ARG KAFKA_VERSION={version}" in read("docker/kafka/Dockerfile"), "the image and scripts/kafka differ"
    assert "scripts/kafka fetch" in read("docker/kafka/Dockerfile"), "the image must fetch Kafka as scripts/kafka does"


def test_local_override_builds_every_image_from_the_local_base(compose, kafka_override, local_override):
    """compose.local.yaml: no image is pulled, every build starts FROM BASE_IMAGE
    on the host's network."""
    merged = {name: dict(s) for name, s in compose["services"].items()}
    for doc in (kafka_override, local_override):
        for name, service in doc["services"].items():
            merged[name] = {**merged[name], **service}
    for name, service in merged.items():
        build = local_override["services"][name]["build"]
        assert build["network"] == "host", name
        assert build["args"]["BASE_IMAGE"] == "${CLUSTERLITE_BASE_IMAGE:-clusterlite-base:bookworm}", name
        assert build["dockerfile"] in DOCKERFILES and (REPO / build["dockerfile"]).is_file(), name
        assert not service["image"].startswith(("redpandadata/", "nginx:")), f"{name} would be pulled"
    assert local_override["services"]["nginx"]["image"] == "clusterlite-nginx:local"


# ---------------------------------------------------------------- node config


def image_config():
    text = read("docker/clusterlite.json")
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def check_config(env_overrides):
    binary = BUILD / "bin" / "clusterlite"
    assert binary.is_file(), f"no node binary at {binary} (set CLUSTERLITE_BUILD_DIR)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
    env.update(env_overrides)
    # The image's paths do not exist here: plugins come from this build, the UI from the repository.
    env["CLUSTERLITE_PLUGINS_DIR"] = str(BUILD / "plugins")
    env["CLUSTERLITE_UI_DIR"] = str(REPO / "web")
    return subprocess.run(
        [str(binary), "--config", str(REPO / "docker" / "clusterlite.json"), "--check-config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def test_image_config_is_accepted_by_the_node():
    out = check_config({})
    assert out.returncode == 0, out.stderr
    assert "standalone mode" in out.stdout and "users(users, version 1)" in out.stdout, out.stdout


@pytest.mark.parametrize("name", NODES)
def test_each_compose_node_environment_is_accepted(compose, shared_override, name):
    env = {k: str(v) for k, v in compose["services"][name]["environment"].items()}
    out = check_config(env)
    assert out.returncode == 0, out.stderr
    assert f"node {name}, replica mode" in out.stdout, out.stdout
    env.update({k: str(v) for k, v in shared_override["services"][name]["environment"].items()})
    out = check_config(env)
    assert out.returncode == 0, out.stderr
    assert f"node {name}, shared mode" in out.stdout, out.stdout


def test_check_config_rejects_an_unknown_key():
    """The check above can fail: the node refuses keys it does not know."""
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.json"
        config = image_config()
        config["http"]["prot"] = 1
        bad.write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
        out = subprocess.run(
            [str(BUILD / "bin" / "clusterlite"), "--config", str(bad), "--check-config"],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
    assert out.returncode != 0 and "http.prot" in out.stderr


# ---------------------------------------------------------------- nginx


def test_compose_nginx_uses_the_launchers_shared_file(compose):
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["nginx"]["volumes"]}
    shared_source = mounts[NGINX_SHARED_IN_IMAGE]
    launcher_includes = re.findall(r"include \$\{?(?:ROOT|repo)\}?/(nginx/[^;]+);", read("scripts/cluster"))
    assert launcher_includes, "scripts/cluster no longer includes a file from nginx/"
    assert shared_source == f"./{launcher_includes[0]}", "compose and scripts/cluster include different nginx files"
    assert (REPO / shared_source).is_file()
    main = mounts["/etc/nginx/nginx.conf"]
    assert (REPO / main).is_file() and main.startswith("./nginx/")
    text = (REPO / main).read_text()
    assert f"include {NGINX_SHARED_IN_IMAGE};" in text


def test_compose_nginx_upstreams_are_the_compose_nodes(compose):
    text = read("nginx/compose.conf")
    http_port, _, _ = launcher_defaults()
    assert re.search(rf"^\s*listen {http_port};", text, re.M)
    pool = re.search(r"upstream clusterlite_nodes \{(.*?)\}", text, re.S).group(1)
    servers = re.findall(r"server (\S+):(\d+)", pool)
    expected = [(n, compose["services"][n]["environment"]["CLUSTERLITE_HTTP_PORT"]) for n in NODES]
    assert servers == expected
    assert re.search(r"keepalive \d+;", pool), "the upstream pool needs keep-alive"
    cluster = json.loads(re.search(r"location = /ui/cluster\.json \{.*?return 200 '([^']*)';", text, re.S).group(1))
    assert cluster == [{"name": n, "prefix": f"/_node/{i}"} for i, n in enumerate(NODES, start=1)]
    launcher_names = re.findall(r"upstream ([\w$]+) \{", read("scripts/cluster"))
    launcher_upstreams = {re.sub(r"\$\w+$", "", u) for u in launcher_names}
    assert launcher_upstreams == {"clusterlite_nodes", "clusterlite_node_"}, launcher_upstreams
    for i, n in enumerate(NODES, start=1):
        assert re.search(rf"upstream clusterlite_node_{i} \{{\s*server {n}:", text)
        assert f"location /_node/{i}/" in text


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (scripts/deps installs it)")
def test_nginx_accepts_the_compose_config():
    """nginx -t on nginx/compose.conf, with the node host names and the shared file's path made local."""
    with tempfile.TemporaryDirectory(prefix="clusterlite-nginx-") as tmp:
        text = read("nginx/compose.conf")
        text = re.sub(r"\bnode-\d+:", "127.0.0.1:", text)
        text = text.replace(f"include {NGINX_SHARED_IN_IMAGE};", f"include {REPO / 'nginx' / 'clusterlite.conf'};")
        temps = "".join(f"    {k}_temp_path {tmp}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        text = text.replace("http {\n", "http {\n" + temps, 1)
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(text)
        out = subprocess.run(
            ["nginx", "-t", "-p", tmp, "-e", f"{tmp}/error.log", "-c", str(conf), "-g", f"pid {tmp}/nginx.pid;"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------- scripts/compose-test


def test_the_test_script_runs_the_compose_test():
    """scripts/test runs scripts/compose-test, fails when it fails and reports a skip (exit 77)."""
    text = read("scripts/test")
    assert "./scripts/compose-test || compose_status=$?" in text
    assert re.search(r"compose_status == 77\)\).*?SKIPPED", text, re.S)
    assert re.search(r"compose_status != 0\)\).*?exit \"\$compose_status\"", text, re.S)


def test_compose_test_uses_the_compose_files_and_their_port_variables(compose):
    text = read("scripts/compose-test")
    assert "files=(-f compose.yaml -f compose.kafka.yaml -f compose.local.yaml)" in text
    assert "mode_files+=(-f compose.shared.yaml)" in text
    defaults = dict(re.findall(r'export (CLUSTERLITE_COMPOSE_[A-Z0-9_]+_PORT)="\$\{\1:-(\d+)\}"', text))
    published_ports = {}
    for service in compose["services"].values():
        for variable, default in published(service).values():
            published_ports[variable] = str(default)
    assert defaults == published_ports, "scripts/compose-test and compose.yaml name different host ports"
