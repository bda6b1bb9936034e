#!/usr/bin/env python3
"""Checks the deployment files under deploy/ against the node (ctest -L deploy).

  check_deploy.py --node BUILD/tools/troupe-node --root SOURCE_DIR

* every node config under deploy/ (local, docker, systemd, and the k8s
  ConfigMap template rendered by the StatefulSet's own entrypoint for each pod)
  passes `troupe-node --check-config`, with its data dir redirected to a temp
  dir and, when it has [tls], certificates from scripts/make-certs.sh;
* compose.yaml and the k8s manifests parse (python3-yaml), their health checks
  and probes hit /health/live and /health/ready on the HTTP port the config
  listens on (https when it has [tls]), and their volume mounts cover the data
  dir, the TLS files, the Docker socket and the job work dir the configs name;
* the systemd unit has the options the issue asks for and they fit its config;
* the Dockerfile's build stage installs exactly build_packages of
  scripts/setup.sh, and its runtime stage no build packages.

Prints one line per check; exits 1 on the first failure.
"""
import argparse
import os
import re
import shlex
import socket
import time
import urllib.error
import urllib.request
import stat
import subprocess
import sys
import tempfile
import tomllib

import yaml

CHECKS = 0


def ok(what):
    global CHECKS
    CHECKS += 1
    print(f"ok   {what}")


def fail(what):
    print(f"FAIL {what}", file=sys.stderr)
    sys.exit(1)


def expect(cond, what):
    if not cond:
        fail(what)
    ok(what)


def under(path, directory):
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def port_of(hostport):
    return int(hostport.rsplit(":", 1)[1])


class Env:
    def __init__(self, node, root, tmp):
        self.node, self.root, self.tmp = node, root, tmp
        self.certs = os.path.join(tmp, "certs")
        subprocess.run([os.path.join(root, "scripts/make-certs.sh"), self.certs, "1", "2", "3"],
                       check=True, stdout=subprocess.DEVNULL)
        self.runs = 0

    def check_config(self, path, label):
        """troupe-node --check-config on `path`; the data dir goes to a temp dir,
        the TLS files (when the config names any) to test certificates of its id."""
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
        self.runs += 1
        args = [self.node, "--config", path, "--check-config",
                "--data-dir", os.path.join(self.tmp, f"data-{self.runs}")]
        if "tls" in cfg:
            nid = cfg["node"]["id"]
            args += ["--tls-cert", f"{self.certs}/node-{nid}.crt", "--tls-key", f"{self.certs}/node-{nid}.key",
                     "--tls-ca", f"{self.certs}/ca.crt"]
        r = subprocess.run(args, capture_output=True, text=True)
        expect(r.returncode == 0, f"{label}: troupe-node --check-config passes"
               + ("" if r.returncode == 0 else f" (exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()})"))
        return cfg


def tls_files(cfg):
    t = cfg.get("tls", {})
    return [t[k] for k in ("cert_file", "key_file", "ca_file") if k in t]


def check_tls_names(cfg, label):
    """The TLS files are the ones make-certs.sh writes for this node."""
    if "tls" not in cfg:
        return
    nid = cfg["node"]["id"]
    names = [os.path.basename(p) for p in tls_files(cfg)]
    expect(names == [f"node-{nid}.crt", f"node-{nid}.key", "ca.crt"],
           f"{label}: [tls] names make-certs.sh's node-{nid}.crt, node-{nid}.key, ca.crt")
    for p in tls_files(cfg):
        expect(os.path.isabs(p), f"{label}: [tls] path {p} is absolute (mounted, not relative to the config)")


# ---------------------------------------------------------------- local, systemd

def check_local(env):
    for i in (1, 2, 3):
        env.check_config(os.path.join(env.root, f"deploy/local/node{i}.toml"), f"deploy/local/node{i}.toml")


def unit_options(path):
    opts = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            opts.setdefault((section, k.strip()), []).append(v.strip())
    return opts


def check_systemd(env):
    unit = os.path.join(env.root, "deploy/systemd/troupe.service")
    conf = os.path.join(env.root, "deploy/systemd/troupe.toml")
    label = "deploy/systemd/troupe.toml"
    cfg = env.check_config(conf, label)
    o = unit_options(unit)
    svc = lambda k: o.get(("Service", k), [])
    expect(svc("Restart") == ["on-failure"], "troupe.service: Restart=on-failure")
    expect(len(svc("LimitNOFILE")) == 1 and int(svc("LimitNOFILE")[0]) >= 4096, "troupe.service: LimitNOFILE >= 4096")
    expect(svc("ProtectSystem") == ["strict"], "troupe.service: ProtectSystem=strict")
    expect(svc("NoNewPrivileges") == ["yes"], "troupe.service: NoNewPrivileges=yes")
    expect(svc("User") == ["troupe"], "troupe.service: runs as the troupe user")
    exec_start = shlex.split(svc("ExecStart")[0])
    expect(exec_start[0] == "/usr/bin/troupe-node" and exec_start[1:] == ["--config", "/etc/troupe/troupe.toml"],
           "troupe.service: ExecStart=/usr/bin/troupe-node --config /etc/troupe/troupe.toml")
    writable = [p.lstrip("-") for v in svc("ReadWritePaths") for p in v.split()]
    writable += ["/var/lib/" + d for v in svc("StateDirectory") for d in v.split()]
    expect(any(under(cfg["node"]["data_dir"], w) for w in writable),
           f"troupe.service: the data dir {cfg['node']['data_dir']} is writable (ReadWritePaths/StateDirectory)")
    expect(any(under(cfg["node"]["data_dir"], w) for w in
               [p.lstrip("-") for v in svc("ReadWritePaths") for p in v.split()]),
           "troupe.service: ReadWritePaths= names the data dir")
    sock = cfg.get("executor", {}).get("docker_socket", "/var/run/docker.sock")
    hidden = [p.lstrip("-") for v in svc("InaccessiblePaths") for p in v.split()]
    expect(not any(under(sock, h) or under(sock.replace("/var/run", "/run"), h) for h in hidden)
           and any(under(sock.replace("/var/run", "/run"), w) for w in writable),
           f"troupe.service: the Docker socket {sock} stays reachable (ReadWritePaths, not InaccessiblePaths)")
    work = cfg.get("executor", {}).get("process", {}).get("work_dir", "/tmp/troupe-jobs")
    expect(under(work, "/tmp") and svc("PrivateTmp") == ["yes"] or any(under(work, w) for w in writable),
           f"troupe.service: the process backend's work_dir {work} is writable")
    expect(not cfg.get("listen", {}).get("grpc", "0.0.0.0").startswith("0.0.0.0") or "tls" in cfg,
           "troupe.toml: listens beyond loopback only with [tls]")
    if subprocess.run(["sh", "-c", "command -v systemd-analyze"], capture_output=True).returncode == 0:
        copy = os.path.join(env.tmp, "troupe.service")
        with open(unit) as f:
            text = f.read().replace("/usr/bin/troupe-node", os.path.abspath(env.node))
        with open(copy, "w") as f:
            f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True, text=True)
        expect(r.returncode == 0 and "troupe.service" not in r.stderr,
               "systemd-analyze verify troupe.service" + ("" if r.returncode == 0 else f": {r.stderr.strip()}"))
    else:
        print("skip systemd-analyze verify (systemd-analyze not installed)")


# ---------------------------------------------------------------- Dockerfile

def bash_array(script, name):
    """The elements of bash array `name` in `script`, as bash itself parses them."""
    snippet = f'eval "$(sed -n "/^{name}=(/,/^)/p" "$1")"; printf "%s\\n" "${{{name}[@]}}"'
    out = subprocess.run(["bash", "-c", snippet, "bash", script], check=True, capture_output=True, text=True).stdout
    return [p for p in out.split("\n") if p]


def dockerfile_stages(path):
    """[(from_line, name, [(instruction, args)])] with continuation lines joined."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            stages.append((m.group(1), m.group(2), []))
        elif stages:
            stages[-1][2].append((instr, args.strip()))
    return stages


def apt_installs(instructions):
    pkgs = []
    for instr, args in instructions:
        if instr != "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", args):
            words = cmd.split()
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def check_dockerfile(env):
    path = os.path.join(env.root, "deploy/docker/Dockerfile")
    setup = os.path.join(env.root, "scripts/setup.sh")
    build_pkgs = bash_array(setup, "build_packages")
    dev_pkgs = bash_array(setup, "dev_test_packages")
    expect(len(build_pkgs) > 5 and not set(build_pkgs) & set(dev_pkgs),
           f"setup.sh: build_packages ({len(build_pkgs)}) and dev_test_packages ({len(dev_pkgs)}) are disjoint")
    with open(setup) as f:
        expect('packages=("${build_packages[@]}" "${dev_test_packages[@]}")' in f.read(),
               "setup.sh installs build_packages + dev_test_packages")
    stages = dockerfile_stages(path)
    expect(len(stages) >= 2, "Dockerfile: multi-stage")
    build_from, build_name, build_instr = stages[0]
    run_from, _, run_instr = stages[-1]
    expect(build_from.startswith("debian:bookworm") and run_from.startswith("debian:bookworm"),
           f"Dockerfile: both stages are Debian 12 ({build_from}, {run_from})")
    got = apt_installs(build_instr)
    missing, extra = sorted(set(build_pkgs) - set(got)), sorted(set(got) - set(build_pkgs))
    expect(not missing and not extra and len(got) == len(set(got)),
           "Dockerfile: the build stage installs exactly setup.sh's build_packages"
           + (f" (missing {missing}, extra {extra})" if missing or extra else ""))
    runtime = apt_installs(run_instr)
    bad = [p for p in runtime if p.endswith("-dev") or p in build_pkgs or (p in dev_pkgs and p != "curl")]
    expect(not bad, f"Dockerfile: the runtime stage installs no build packages {bad or ''}".rstrip())
    expect(any(i == "COPY" and f"--from={build_name}" in a and ".deb" in a for i, a in run_instr)
           and any(".deb" in p for p in runtime),
           "Dockerfile: the runtime stage installs the .deb of the build stage (Depends from dpkg-shlibdeps)")
    expect(any(i == "RUN" and "scripts/package.sh" in a for i, a in build_instr),
           "Dockerfile: the build stage packages with scripts/package.sh")
    users = [a for i, a in run_instr if i == "USER"]
    expect(users and users[-1] not in ("root", "0"), f"Dockerfile: runs as a non-root user ({users[-1] if users else None})")
    uid = re.search(r"TROUPE_UID=(\d+)", " ".join(a for i, a in run_instr if i == "ARG"))
    expect(uid is not None, "Dockerfile: a fixed uid for the troupe user (ARG TROUPE_UID)")
    expose = [int(p) for i, a in run_instr if i == "EXPOSE" for p in a.split()]
    return {"uid": int(uid.group(1)), "expose": expose, "entrypoint": [a for i, a in run_instr if i == "ENTRYPOINT"]}


# ---------------------------------------------------------------- compose

def split_mount(v):
    if isinstance(v, dict):
        return v.get("source"), v["target"], v.get("read_only", False)
    parts = v.split(":")
    return parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")


def check_compose(env, image):
    ddir = os.path.join(env.root, "deploy/docker")
    with open(os.path.join(ddir, "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    ok("deploy/docker/compose.yaml parses")
    services = compose["services"]
    named_volumes = set((compose.get("volumes") or {}).keys())
    expect(len(services) == 3, "compose: one service per node (3)")
    ids, members_seen = {}, None
    for name, svc in services.items():
        mounts = [split_mount(v) for v in svc.get("volumes", [])]
        conf = [m for m in mounts if m[1] == "/etc/troupe/troupe.toml"]
        expect(len(conf) == 1 and conf[0][2], f"compose {name}: its config is mounted read-only at /etc/troupe/troupe.toml")
        conf_path = os.path.normpath(os.path.join(ddir, conf[0][0]))
        expect(os.path.isfile(conf_path), f"compose {name}: {conf[0][0]} exists")
        label = f"deploy/docker/{os.path.basename(conf_path)}"
        cfg = env.check_config(conf_path, label)
        check_tls_names(cfg, label)
        ids[name] = cfg["node"]["id"]
        data = cfg["node"]["data_dir"]
        dm = [m for m in mounts if m[1] == data]
        expect(len(dm) == 1 and dm[0][0] in named_volumes, f"compose {name}: a named volume ({dm[0][0] if dm else None}) at the data dir {data}")
        for p in tls_files(cfg):
            cover = [m for m in mounts if under(p, m[1])]
            expect(cover and cover[-1][2], f"compose {name}: {p} is on a read-only mount ({cover[-1][0] if cover else None})")
        ex = cfg.get("executor", {})
        if ex.get("backend", "docker") in ("docker", "auto"):
            sock = ex.get("docker_socket", "/var/run/docker.sock")
            expect(any(m[1] == sock and m[0] == "/var/run/docker.sock" for m in mounts),
                   f"compose {name}: the host's Docker socket is mounted at {sock}")
            expect(svc.get("group_add"), f"compose {name}: group_add gives the non-root user the socket's group")
        http_port, grpc_port = port_of(cfg["listen"]["http"]), port_of(cfg["listen"]["grpc"])
        hc = svc.get("healthcheck", {}).get("test", [])
        hc = " ".join(hc) if isinstance(hc, list) else hc
        scheme = "https" if "tls" in cfg else "http"
        expect(re.search(rf"{scheme}://(localhost|127\.0\.0\.1):{http_port}/health/ready\b", hc) is not None,
               f"compose {name}: health check on {scheme}://localhost:{http_port}/health/ready")
        if "tls" in cfg:
            ca = re.search(r"--cacert\s+(\S+)", hc)
            expect(ca is not None and ca.group(1) == cfg["tls"]["ca_file"], f"compose {name}: the health check trusts the cluster CA")
        published = {int(str(p).split(":")[-1].split("/")[0]) for p in svc.get("ports", [])}
        expect({http_port, grpc_port} <= published, f"compose {name}: ports {grpc_port} and {http_port} published")
        expect({http_port, grpc_port} <= set(image["expose"]), f"compose {name}: the image EXPOSEs {grpc_port} and {http_port}")
        members = sorted((m["id"], m["address"]) for m in cfg["members"])
        expect(members_seen is None or members == members_seen, f"compose {name}: the same [[members]] as the others")
        members_seen = members
        hostnames = {n: s.get("hostname", n) for n, s in services.items()}
        for mid, addr in members:
            host = addr.rsplit(":", 1)[0]
            expect(host in services or host in hostnames.values(), f"compose {name}: member {mid} ({addr}) is a service name")
            expect(port_of(addr) == grpc_port, f"compose {name}: member {mid} dials the gRPC port {grpc_port}")
    expect(sorted(ids.values()) == [m[0] for m in members_seen], "compose: one service for each member id")
    for name, nid in ids.items():
        addr = dict(members_seen)[nid]
        expect(addr.rsplit(":", 1)[0] in (name, services[name].get("hostname")), f"compose {name}: is member {nid} ({addr})")


# ---------------------------------------------------------------- k8s

def load_k8s(root):
    docs = []
    kdir = os.path.join(root, "deploy/k8s")
    for fn in sorted(os.listdir(kdir)):
        if fn.endswith((".yaml", ".yml")):
            with open(os.path.join(kdir, fn)) as f:
                for d in yaml.safe_load_all(f):
                    if d:
                        docs.append((fn, d))
            ok(f"deploy/k8s/{fn} parses")
    return docs


def check_k8s(env, image):
    docs = load_k8s(env.root)
    kinds = {}
    for fn, d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    kust = kinds.get("Kustomization", [{}])[0]
    k8s_files = sorted({fn for fn, d in docs if d["kind"] != "Kustomization"})
    expect(sorted(kust.get("resources", [])) == k8s_files, "kustomization.yaml lists every manifest")
    if subprocess.run(["sh", "-c", "command -v kubectl"], capture_output=True).returncode == 0:
        r = subprocess.run(["kubectl", "kustomize", os.path.join(env.root, "deploy/k8s")], capture_output=True, text=True)
        expect(r.returncode == 0 and len(list(yaml.safe_load_all(r.stdout))) == sum(d["kind"] != "Kustomization" for _, d in docs),
               "kubectl kustomize deploy/k8s renders every manifest" + (f": {r.stderr.strip()}" if r.returncode else ""))
    else:
        print("skip kubectl kustomize (kubectl not installed)")
    sts = kinds["StatefulSet"][0]
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    replicas = spec["replicas"]
    c = pod["containers"][0]
    services = {s["metadata"]["name"]: s for s in kinds["Service"]}
    headless = services.get(spec["serviceName"])
    expect(headless is not None and headless["spec"].get("clusterIP") == "None",
           f"k8s: the StatefulSet's serviceName {spec['serviceName']} is a headless Service")
    expect(headless["spec"].get("publishNotReadyAddresses") is True,
           "k8s: the headless Service publishes not-ready pods (peers resolve before a leader exists)")
    expect(spec.get("podManagementPolicy") == "Parallel", "k8s: podManagementPolicy Parallel (no node is ready alone)")
    for s in services.values():
        expect(all(labels.get(k) == v for k, v in s["spec"]["selector"].items()), f"k8s: Service {s['metadata']['name']} selects the pods")

    # Render the config of every pod with the container's own command.
    cm_name = next(v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v)
    cm = next(d for d in kinds["ConfigMap"] if d["metadata"]["name"] == cm_name)
    env_vars = {e["name"]: e.get("value") for e in c.get("env", [])}
    expect(any(e["name"] == "POD_NAMESPACE" and e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace"
               for e in c.get("env", [])), "k8s: POD_NAMESPACE from the downward API")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}

    def mount_for(path):
        best = [p for p in mounts if under(path, p)]
        return mounts[max(best, key=len)] if best else None

    tmpl_path = env_vars["TROUPE_CONFIG_TEMPLATE"]
    tm = mount_for(tmpl_path)
    expect(tm is not None and tm["name"] in volumes and "configMap" in volumes[tm["name"]]
           and os.path.basename(tmpl_path) in cm["data"], f"k8s: the template {tmpl_path} is the ConfigMap's {os.path.basename(tmpl_path)}")
    rm = mount_for(env_vars["TROUPE_CONFIG"])
    expect(rm is not None and "emptyDir" in volumes[rm["name"]] and not rm.get("readOnly"),
           f"k8s: the rendered config {env_vars['TROUPE_CONFIG']} is on a writable emptyDir")
    shim = os.path.join(env.tmp, "shim")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "troupe-node"), "w") as f:
        f.write('#!/bin/sh\nprintf "%s\\n" "$@" > "$SHIM_ARGS"\n')
    os.chmod(os.path.join(shim, "troupe-node"), 0o755)
    template = os.path.join(env.tmp, "k8s-template.toml")
    with open(template, "w") as f:
        f.write(cm["data"][os.path.basename(tmpl_path)])
    ns = "troupe-test"
    sec = pod.get("securityContext", {})
    expect(sec.get("runAsUser") == image["uid"] and sec.get("fsGroup") == image["uid"] and sec.get("runAsNonRoot"),
           f"k8s: runs as the image's troupe user (uid {image['uid']}) with fsGroup {image['uid']}")
    ro_root = c.get("securityContext", {}).get("readOnlyRootFilesystem", False)
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    for ordinal in range(replicas):
        rendered = os.path.join(env.tmp, f"k8s-troupe-{ordinal}.toml")
        argsfile = os.path.join(env.tmp, f"k8s-args-{ordinal}")
        run_env = {"PATH": shim + ":/usr/bin:/bin", "HOSTNAME": f"{sts['metadata']['name']}-{ordinal}",
                   "POD_NAMESPACE": ns, "TROUPE_CONFIG_TEMPLATE": template, "TROUPE_CONFIG": rendered,
                   "SHIM_ARGS": argsfile}
        r = subprocess.run(c["command"] + c["args"], env=run_env, capture_output=True, text=True)
        expect(r.returncode == 0, f"k8s pod {ordinal}: the entrypoint renders its config" + (f" ({r.stderr})" if r.returncode else ""))
        with open(argsfile) as f:
            expect(f.read().split() == ["--config", rendered], f"k8s pod {ordinal}: the entrypoint execs troupe-node --config <rendered>")
        label = f"deploy/k8s pod troupe-{ordinal}"
        cfg = env.check_config(rendered, label)
        check_tls_names(cfg, label)
        expect(cfg["node"]["id"] == ordinal + 1, f"{label}: node id {ordinal + 1} (ordinal + 1)")
        want = [(i + 1, f"{sts['metadata']['name']}-{i}.{spec['serviceName']}.{ns}.svc.cluster.local:{port_of(cfg['listen']['grpc'])}")
                for i in range(replicas)]
        expect(sorted((m["id"], m["address"]) for m in cfg["members"]) == want,
               f"{label}: the {replicas} members are the pods' stable DNS names")
        http_port, grpc_port = port_of(cfg["listen"]["http"]), port_of(cfg["listen"]["grpc"])
        expect({http_port, grpc_port} <= set(port_names.values()), f"{label}: containerPorts {grpc_port} and {http_port}")
        scheme = "HTTPS" if "tls" in cfg else "HTTP"
        for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
            g = c[probe]["httpGet"]
            port = port_names.get(g["port"], g["port"])
            expect(g["path"] == path and port == http_port and g.get("scheme", "HTTP") == scheme,
                   f"{label}: {probe} GET {scheme.lower()}://:{http_port}{path}")
        dm = mount_for(cfg["node"]["data_dir"])
        expect(dm is not None and dm["mountPath"] == cfg["node"]["data_dir"] and dm["name"] in claims,
               f"{label}: the data dir {cfg['node']['data_dir']} is the PersistentVolumeClaim template {dm['name'] if dm else None}")
        for p in tls_files(cfg):
            m = mount_for(p)
            expect(m is not None and m.get("readOnly") and "secret" in volumes[m["name"]],
                   f"{label}: {p} comes from a Secret, read-only")
        work = cfg.get("executor", {}).get("process", {}).get("work_dir", "/tmp/troupe-jobs")
        if ro_root:
            m = mount_for(work)
            expect(m is not None and not m.get("readOnly") and "emptyDir" in volumes[m["name"]],
                   f"{label}: the job work dir {work} is writable (emptyDir) on the read-only root")
    dash = [s for n, s in services.items() if n != spec["serviceName"]]
    expect(len(dash) == 1, "k8s: one Service for the dashboard")
    tp = dash[0]["spec"]["ports"][0]["targetPort"]
    expect(port_names.get(tp, tp) == http_port, f"k8s: Service {dash[0]['metadata']['name']} targets the HTTP port {http_port}")
    hosts = cfg.get("http", {}).get("allowed_hosts", [])
    expect(dash[0]["metadata"]["name"] in hosts, "k8s: the node answers to the dashboard Service's name ([http] allowed_hosts)")


def check_install(env, build):
    """cmake --install into a temp prefix lays out the binaries, the example
    config and the unit, the unit pointing at that prefix."""
    prefix = os.path.join(env.tmp, "prefix")
    r = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, text=True)
    expect(r.returncode == 0, "cmake --install --prefix <tmp>" + (f": {r.stderr.strip()}" if r.returncode else ""))
    for f in ("bin/troupe-node", "bin/troupe", "libexec/troupe/troupe-job-shim", "etc/troupe/troupe.toml",
              "lib/systemd/system/troupe.service", "share/doc/troupe/full.toml"):
        expect(os.path.isfile(os.path.join(prefix, f)), f"cmake --install: {f}")
    for b in ("bin/troupe-node", "bin/troupe", "libexec/troupe/troupe-job-shim"):
        expect(os.stat(os.path.join(prefix, b)).st_mode & stat.S_IXUSR, f"cmake --install: {b} is executable")
    o = unit_options(os.path.join(prefix, "lib/systemd/system/troupe.service"))
    expect(o[("Service", "ExecStart")] == [f"{prefix}/bin/troupe-node --config {prefix}/etc/troupe/troupe.toml"],
           "cmake --install: the unit's ExecStart names the installed binary and config")
    with open(os.path.join(env.root, "deploy/systemd/troupe.toml"), "rb") as a, \
            open(os.path.join(prefix, "etc/troupe/troupe.toml"), "rb") as b:
        expect(a.read() == b.read(), "cmake --install: etc/troupe/troupe.toml is deploy/systemd/troupe.toml")
    env.check_config(os.path.join(prefix, "etc/troupe/troupe.toml"), "installed etc/troupe/troupe.toml")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_served(env):
    """The endpoints the probes and health checks name are served: one node
    from the systemd example (a one-member cluster, so it elects itself) on
    free loopback ports, process executor; stopped by its pid."""
    grpc, http = free_port(), free_port()
    with open(os.path.join(env.root, "deploy/systemd/troupe.toml")) as f:
        text = f.read().replace("127.0.0.1:50051", f"127.0.0.1:{grpc}").replace("127.0.0.1:8081", f"127.0.0.1:{http}")
    conf = os.path.join(env.tmp, "served.toml")
    with open(conf, "w") as f:
        f.write(text)
    log = open(os.path.join(env.tmp, "served.log"), "w")
    node = subprocess.Popen([env.node, "--config", conf, "--data-dir", os.path.join(env.tmp, "data-served"),
                             "--executor", "process"], stdout=log, stderr=subprocess.STDOUT)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy
    try:
        def status(path):
            try:
                with direct.open(f"http://127.0.0.1:{http}{path}", timeout=2) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
            except OSError:
                return None
        deadline = time.monotonic() + 30
        got = {}
        for path in ("/health/live", "/health/ready", "/metrics"):
            while (got.get(path) != 200) and time.monotonic() < deadline and node.poll() is None:
                got[path] = status(path)
                if got[path] != 200:
                    time.sleep(0.2)
            if got.get(path) != 200:
                with open(os.path.join(env.tmp, "served.log")) as f:
                    print(f.read()[-3000:], file=sys.stderr)
            expect(got.get(path) == 200, f"a running node serves GET {path} with 200 (got {got.get(path)})")
    finally:
        node.terminate()
        try:
            node.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
        log.close()


def check_negative(env):
    """The binary really validates: a config with an unknown key fails."""
    bad = os.path.join(env.tmp, "bad.toml")
    with open(os.path.join(env.root, "deploy/systemd/troupe.toml")) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text.replace("[log]\n", "[log]\nlevle = \"info\"\n"))
    r = subprocess.run([env.node, "--config", bad, "--check-config", "--data-dir", os.path.join(env.tmp, "data-bad")],
                       capture_output=True, text=True)
    expect(r.returncode != 0 and "levle" in r.stderr, "troupe-node --check-config refuses a misspelt key (control)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True, help="the troupe-node binary")
    ap.add_argument("--root", required=True, help="the source checkout")
    ap.add_argument("--build", help="the build dir: also check cmake --install")
    a = ap.parse_args()
    if not os.access(a.node, os.X_OK):
        fail(f"{a.node} is not an executable troupe-node")
    with tempfile.TemporaryDirectory(prefix="troupe-deploy-check.") as tmp:
        env = Env(a.node, a.root, tmp)
        check_negative(env)
        check_served(env)
        check_local(env)
        check_systemd(env)
        image = check_dockerfile(env)
        check_compose(env, image)
        check_k8s(env, image)
        if a.build:
            check_install(env, a.build)
    print(f"check_deploy: {CHECKS} checks passed")


if __name__ == "__main__":
    main()
