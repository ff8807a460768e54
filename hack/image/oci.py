#!/usr/bin/env python3
"""oci.py: write a FROM-scratch OCI image as an archive, without a container daemon or registry.

Python 3 standard library only. The output is one tar file that is at the same time
- an OCI image layout (oci-layout, index.json, blobs/sha256/...): `skopeo copy oci-archive:...`,
  `ctr -n k8s.io images import` (containerd, also what `kind load image-archive` runs),
  `podman load`, `docker load` with the containerd image store;
- a `docker save` archive (manifest.json, repositories): `docker load`, `crane push`.
That is the layout `docker save` has written since Docker 25.

Build
  oci.py --ref REPO[:TAG] --out IMAGE.tar [content...] [config...]

  Content (image paths are absolute; parent directories are added as 0755 root:root):
    --file SRC:DEST[:MODE[:UID:GID]]  host file SRC (symlinks followed) at DEST; MODE is octal,
                                      default SRC's permission bits; owner default 0:0
    --tree SRC:DEST[:UID:GID]         host directory SRC copied recursively to DEST (modes kept,
                                      symlinks kept as symlinks)
    --dir DEST[:MODE[:UID:GID]]       a directory, default 0755 0:0 (e.g. --dir /tmp:1777)
    --symlink DEST:TARGET             a symbolic link
    --ldd-of SRC                      the shared libraries and the dynamic loader `ldd SRC`
                                      reports, each at the path ldd reports (content and mode of
                                      the file it resolves to); nothing for a static binary
    --debian-ca-certs                 /etc/ssl/certs/ca-certificates.crt made from the files of
                                      Debian's ca-certificates package (checked with dpkg
                                      --verify), as update-ca-certificates makes it with its
                                      default configuration: certificates added locally on this
                                      host (/usr/local/share/ca-certificates) are NOT included
    --dpkg-metadata                   for each Debian package owning a host file in the image:
                                      /var/lib/dpkg/status.d/<package> (its dpkg status) and
                                      /usr/share/doc/<package>/copyright, as distroless images
                                      carry them, so scanners see the package versions
  Config:
    --entrypoint ARG  --cmd ARG       repeatable, each appends one argument; an argument that
                                      starts with '[' is a JSON array of arguments
    --user UID[:GID]  --workdir DIR  --env K=V  --label K=V  --expose PORT[/tcp|udp]
    --arch ARCH (default: this host's, e.g. amd64)  --os OS (default linux)

  Prints the image digest (sha256 of the manifest, what a registry reports after a push that
  keeps the manifest, e.g. `skopeo copy`) on stdout; a summary goes to stderr.

  Deterministic: the same inputs give the same bytes and digest. Every mtime and the config's
  `created` are SOURCE_DATE_EPOCH (default 0), entries are sorted, owners are numeric (0:0 unless
  given), JSON is canonical, gzip carries no name and mtime 0. (Python's tarfile and zlib
  write the bytes: another Python or zlib version may, in principle, give another digest.)

  Names: index.json carries `io.containerd.image.name` (the normalised reference, e.g.
  docker.io/library/x:1 for x:1, as containerd and podman name the loaded image) and
  `org.opencontainers.image.ref.name` (the tag, as the OCI spec and `docker save` have it);
  manifest.json carries RepoTags [REF].

Unpack (check and extract; used by `hack/image.sh verify` to run the image with runc)
  oci.py unpack IMAGE.tar DIR
  Checks every digest and size (manifest, config, layers, diff_ids), extracts the layers into
  DIR/rootfs and writes the image config to DIR/image-config.json.

Example: a pause image for a test node from a static binary
  oci.py --ref nflbet.dev/pause:1 --out pause.tar --file ./pause:/pause:0755 \\
         --entrypoint /pause --user 65532:65532
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import posixpath
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 1 << 20


class UsageError(Exception):
    pass


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def image_path(p):
    """An absolute image path as a tar member name: 'etc/passwd' for '/etc/passwd'."""
    if not p.startswith("/"):
        raise UsageError(f"image path {p!r} must be absolute")
    norm = posixpath.normpath(p).lstrip("/")
    if norm in ("", ".") or ".." in norm.split("/"):
        raise UsageError(f"image path {p!r} is not a path below /")
    return norm


def octal_mode(s, what):
    try:
        mode = int(s, 8)
    except ValueError:
        raise UsageError(f"{what}: mode {s!r} is not octal") from None
    if not 0 <= mode <= 0o7777:
        raise UsageError(f"{what}: mode {s!r} out of range")
    return mode


def owner(parts, what):
    if not parts:
        return 0, 0
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise UsageError(f"{what}: owner must be numeric UID:GID")
    return int(parts[0]), int(parts[1])


# --- references --------------------------------------------------------------------------

NAME_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
DOMAIN = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?")
TAG = re.compile(r"[\w][\w.-]{0,127}")


def parse_ref(ref):
    """REPO[:TAG] -> (repository as given, tag, normalised reference), by Docker's rules."""
    if "@" in ref:
        raise UsageError(f"--ref {ref!r}: give a tag, not a digest (the digest is the output)")
    repo, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
    if not TAG.fullmatch(tag):
        raise UsageError(f"--ref {ref!r}: invalid tag {tag!r}")
    parts = repo.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain, path = parts[0], parts[1:]
        if not DOMAIN.fullmatch(domain):
            raise UsageError(f"--ref {ref!r}: invalid registry {domain!r}")
    else:
        domain, path = "docker.io", (["library"] if len(parts) == 1 else []) + parts
    for c in path:
        if not NAME_COMPONENT.fullmatch(c):
            raise UsageError(f"--ref {ref!r}: invalid name component {c!r} (lower case, digits, . _ -)")
    return repo, tag, f"{domain}/{'/'.join(path)}:{tag}"


# --- the file system of the layer --------------------------------------------------------


class Entry:
    def __init__(self, kind, mode, uid=0, gid=0, src=None, data=None, target=None, origin=""):
        self.kind, self.mode, self.uid, self.gid = kind, mode, uid, gid
        self.src, self.data, self.target, self.origin = src, data, target, origin

    def same(self, other):
        if (self.kind, self.mode, self.uid, self.gid, self.target) != (
            other.kind, other.mode, other.uid, other.gid, other.target
        ):
            return False
        return self.kind != "file" or self.content_digest() == other.content_digest()

    def content_digest(self):
        h = hashlib.sha256()
        if self.data is not None:
            h.update(self.data)
        else:
            with open(self.src, "rb") as f:
                for chunk in iter(lambda: f.read(CHUNK), b""):
                    h.update(chunk)
        return h.hexdigest()


class Layer:
    def __init__(self):
        self.entries = {}
        self.host_files = []  # host paths whose content is in the image (for --dpkg-metadata)

    def add(self, path, entry):
        name = image_path(path)
        old = self.entries.get(name)
        if old is not None and old.kind == "dir" and entry.kind == "dir" and old.origin == "parent":
            pass  # an explicit directory replaces an implied parent
        elif old is not None:
            if old.same(entry) or (entry.origin == "parent" and old.kind == "dir"):
                return
            raise UsageError(f"/{name} given twice, differently ({old.origin} and {entry.origin})")
        self.entries[name] = entry
        parent = posixpath.dirname(name)
        if parent:
            self.add("/" + parent, Entry("dir", 0o755, origin="parent"))

    def add_file(self, src, dest, mode=None, uid=0, gid=0, origin="--file"):
        real = os.path.realpath(src)
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{origin} {src}: not a regular file")
        if mode is None:
            mode = stat.S_IMODE(st.st_mode)
        self.add(dest, Entry("file", mode, uid, gid, src=real, origin=origin))
        self.host_files.append(src)

    def add_data(self, dest, data, mode=0o644, origin="generated"):
        self.add(dest, Entry("file", mode, data=data, origin=origin))

    def add_tree(self, src, dest, uid=0, gid=0):
        if not os.path.isdir(src):
            raise UsageError(f"--tree {src}: not a directory")
        self.add(dest, Entry("dir", stat.S_IMODE(os.stat(src).st_mode), uid, gid, origin="--tree"))
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel = os.path.relpath(root, src)
            base = dest if rel == "." else posixpath.join(dest, rel.replace(os.sep, "/"))
            for name in sorted(dirs + files):
                host = os.path.join(root, name)
                target = posixpath.join(base, name)
                st = os.lstat(host)
                if stat.S_ISLNK(st.st_mode):
                    self.add(target, Entry("symlink", 0o777, uid, gid, target=os.readlink(host), origin="--tree"))
                elif stat.S_ISDIR(st.st_mode):
                    self.add(target, Entry("dir", stat.S_IMODE(st.st_mode), uid, gid, origin="--tree"))
                elif stat.S_ISREG(st.st_mode):
                    self.add_file(host, target, stat.S_IMODE(st.st_mode), uid, gid, origin="--tree")
                else:
                    raise UsageError(f"--tree {src}: {host} is neither file, directory nor symlink")

    def write_tar(self, out, epoch):
        """The layer as an uncompressed tar, parents before children, in a stable order."""
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.entries, key=lambda n: n.split("/")):
                e = self.entries[name]
                ti = tarfile.TarInfo(name)
                ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, epoch
                ti.uname = ti.gname = ""
                if e.kind == "dir":
                    ti.type = tarfile.DIRTYPE
                    tar.addfile(ti)
                elif e.kind == "symlink":
                    ti.type, ti.linkname = tarfile.SYMTYPE, e.target
                    tar.addfile(ti)
                elif e.data is not None:
                    ti.size = len(e.data)
                    tar.addfile(ti, io.BytesIO(e.data))
                else:
                    ti.size = os.stat(e.src).st_size
                    with open(e.src, "rb") as f:
                        tar.addfile(ti, f)


# --- host helpers (Debian) ---------------------------------------------------------------

LDD_LINE = re.compile(r"^\s*(?:(\S+) => )?(\S+) \(0x[0-9a-f]+\)$")


def ldd_libraries(binary):
    """Paths of the shared libraries and loader of a dynamic binary, as ldd reports them."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    text = out.stdout + out.stderr
    if "not a dynamic executable" in text or "statically linked" in text:
        return []
    if out.returncode != 0:
        raise UsageError(f"ldd {binary} failed: {text.strip()}")
    paths = []
    for line in out.stdout.splitlines():
        if "=> not found" in line:
            raise UsageError(f"ldd {binary}: {line.strip()}")
        m = LDD_LINE.match(line)
        if not m:
            raise UsageError(f"ldd {binary}: cannot read line {line!r}")
        if m.group(2).startswith("/"):  # linux-vdso.so.1 is in the kernel, not a file
            paths.append(m.group(2))
    return paths


def dpkg(*args):
    out = subprocess.run(["dpkg-query", *args], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    return out.returncode, out.stdout


def debian_ca_bundle():
    code, listing = dpkg("-L", "ca-certificates")
    if code != 0:
        raise UsageError("--debian-ca-certs: Debian's ca-certificates package is not installed")
    certs = sorted(p for p in listing.splitlines() if p.startswith("/usr/share/ca-certificates/") and p.endswith(".crt"))
    if not certs:
        raise UsageError("--debian-ca-certs: the ca-certificates package lists no certificate")
    verify = subprocess.run(["dpkg", "--verify", "ca-certificates"], capture_output=True, text=True)
    changed = [line for line in verify.stdout.splitlines() if ".crt" in line]
    if changed:
        raise UsageError("--debian-ca-certs: certificate files differ from the package:\n" + "\n".join(changed))
    bundle = bytearray()
    for path in certs:
        with open(path, "rb") as f:
            data = f.read()
        bundle += data if data.endswith(b"\n") else data + b"\n"
    return bytes(bundle), len(certs)


def dpkg_metadata(layer):
    """status.d entries and copyright files of the Debian packages owning the layer's host files."""
    packages = set()
    for host in layer.host_files:
        for candidate in dict.fromkeys([os.path.abspath(host), os.path.realpath(host)]):
            code, out = dpkg("-S", candidate)
            if code == 0:
                for line in out.splitlines():
                    owners, _, path = line.partition(": ")
                    if path == candidate:
                        packages.update(p.strip().split(":")[0] for p in owners.split(","))
                break
    for pkg in sorted(packages):
        code, status = dpkg("-s", pkg)
        if code != 0:
            raise UsageError(f"--dpkg-metadata: dpkg-query -s {pkg} failed")
        layer.add_data(f"/var/lib/dpkg/status.d/{pkg}", status.encode(), origin="--dpkg-metadata")
        copyright_file = f"/usr/share/doc/{pkg}/copyright"
        if os.path.isfile(copyright_file):
            with open(copyright_file, "rb") as f:
                layer.add_data(copyright_file, f.read(), origin="--dpkg-metadata")
    return sorted(packages)


# --- writing the archive -----------------------------------------------------------------


def sha256_file(f):
    h, size = hashlib.sha256(), 0
    f.seek(0)
    for chunk in iter(lambda: f.read(CHUNK), b""):
        h.update(chunk)
        size += len(chunk)
    f.seek(0)
    return "sha256:" + h.hexdigest(), size


def add_member(tar, name, epoch, data=None, fileobj=None, size=None):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = epoch, 0, 0, "", ""
    if data is None and fileobj is None:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(ti)
        return
    ti.mode = 0o644
    if data is not None:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    else:
        ti.size = size
        fileobj.seek(0)
        tar.addfile(ti, fileobj)


def host_arch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}.get(m, m)


def json_args(values, what):
    args = []
    for v in values or []:
        if v.startswith("["):
            try:
                parsed = json.loads(v)
            except json.JSONDecodeError as e:
                raise UsageError(f"{what} {v!r}: not a JSON array ({e})") from None
            if not isinstance(parsed, list) or not all(isinstance(a, str) for a in parsed):
                raise UsageError(f"{what} {v!r}: not a JSON array of strings")
            args.extend(parsed)
        else:
            args.append(v)
    return args


def key_values(values, what):
    out = {}
    for v in values or []:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise UsageError(f"{what} {v!r}: expected KEY=VALUE")
        out[k] = val
    return out


def build(argv):
    ap = argparse.ArgumentParser(
        prog="oci.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--ref", required=True, help="REPO[:TAG], e.g. registry.example.com/team/app:1.0")
    ap.add_argument("--out", required=True, help="the archive to write")
    ap.add_argument("--file", action="append", default=[], metavar="SRC:DEST[:MODE[:UID:GID]]")
    ap.add_argument("--tree", action="append", default=[], metavar="SRC:DEST[:UID:GID]")
    ap.add_argument("--dir", action="append", default=[], metavar="DEST[:MODE[:UID:GID]]")
    ap.add_argument("--symlink", action="append", default=[], metavar="DEST:TARGET")
    ap.add_argument("--ldd-of", action="append", default=[], metavar="SRC")
    ap.add_argument("--debian-ca-certs", action="store_true")
    ap.add_argument("--dpkg-metadata", action="store_true")
    ap.add_argument("--entrypoint", action="append", metavar="ARG|JSON")
    ap.add_argument("--cmd", action="append", metavar="ARG|JSON")
    ap.add_argument("--user", default="")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--env", action="append", metavar="K=V")
    ap.add_argument("--label", action="append", metavar="K=V")
    ap.add_argument("--expose", action="append", metavar="PORT[/PROTO]")
    ap.add_argument("--arch", default=host_arch())
    ap.add_argument("--os", default="linux")
    a = ap.parse_args(argv)

    repo, tag, full_name = parse_ref(a.ref)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    if a.user and not re.fullmatch(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?", a.user):
        raise UsageError(f"--user {a.user!r}: expected UID[:GID] or NAME[:GROUP]")
    if a.workdir and not a.workdir.startswith("/"):
        raise UsageError(f"--workdir {a.workdir!r} must be absolute")

    layer = Layer()
    for spec in a.file:
        parts = spec.split(":")
        if len(parts) not in (2, 3, 5):
            raise UsageError(f"--file {spec!r}: expected SRC:DEST[:MODE[:UID:GID]]")
        mode = octal_mode(parts[2], f"--file {spec}") if len(parts) > 2 else None
        uid, gid = owner(parts[3:], f"--file {spec}")
        layer.add_file(parts[0], parts[1], mode, uid, gid)
    for spec in a.tree:
        parts = spec.split(":")
        if len(parts) not in (2, 4):
            raise UsageError(f"--tree {spec!r}: expected SRC:DEST[:UID:GID]")
        layer.add_tree(parts[0], parts[1], *owner(parts[2:], f"--tree {spec}"))
    for spec in a.dir:
        parts = spec.split(":")
        if len(parts) not in (1, 2, 4):
            raise UsageError(f"--dir {spec!r}: expected DEST[:MODE[:UID:GID]]")
        mode = octal_mode(parts[1], f"--dir {spec}") if len(parts) > 1 else 0o755
        uid, gid = owner(parts[2:], f"--dir {spec}")
        layer.add(parts[0], Entry("dir", mode, uid, gid, origin="--dir"))
    for spec in a.symlink:
        dest, sep, target = spec.partition(":")
        if not sep or not target:
            raise UsageError(f"--symlink {spec!r}: expected DEST:TARGET")
        layer.add(dest, Entry("symlink", 0o777, target=target, origin="--symlink"))
    for binary in a.ldd_of:
        for lib in ldd_libraries(binary):
            layer.add_file(lib, lib, origin=f"--ldd-of {binary}")
    if a.debian_ca_certs:
        bundle, count = debian_ca_bundle()
        layer.add_data("/etc/ssl/certs/ca-certificates.crt", bundle, origin="--debian-ca-certs")
        layer.host_files.append("/usr/share/ca-certificates/mozilla")
        print(f"oci.py: {count} CA certificates from Debian's ca-certificates", file=sys.stderr)
    if a.dpkg_metadata:
        pkgs = dpkg_metadata(layer)
        print(f"oci.py: dpkg metadata of {', '.join(pkgs) or 'no package'}", file=sys.stderr)

    out_dir = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryFile(dir=out_dir) as raw, tempfile.TemporaryFile(dir=out_dir) as gz:
        layer.write_tar(raw, epoch)
        diff_id, raw_size = sha256_file(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0, compresslevel=6) as z:
            shutil.copyfileobj(raw, z, CHUNK)
        layer_digest, layer_size = sha256_file(gz)

        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
        cfg = {}
        if a.user:
            cfg["User"] = a.user
        if a.env:
            cfg["Env"] = [f"{k}={v}" for k, v in key_values(a.env, "--env").items()]
        if a.entrypoint:
            cfg["Entrypoint"] = json_args(a.entrypoint, "--entrypoint")
        if a.cmd:
            cfg["Cmd"] = json_args(a.cmd, "--cmd")
        if a.workdir:
            cfg["WorkingDir"] = a.workdir
        if a.label:
            cfg["Labels"] = key_values(a.label, "--label")
        if a.expose:
            ports = {}
            for p in a.expose:
                port = p if "/" in p else p + "/tcp"
                if not re.fullmatch(r"[0-9]+/(tcp|udp|sctp)", port):
                    raise UsageError(f"--expose {p!r}: expected PORT[/tcp|udp|sctp]")
                ports[port] = {}
            cfg["ExposedPorts"] = ports
        config = {
            "architecture": a.arch,
            "os": a.os,
            "created": created,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "created_by": "hack/image/oci.py", "comment": f"{len(layer.entries)} entries"}],
        }
        config_bytes = canonical_json(config)
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [{"mediaType": MT_LAYER, "digest": layer_digest, "size": layer_size}],
        }
        manifest_bytes = canonical_json(manifest)
        manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        index = {
            "schemaVersion": 2,
            "mediaType": MT_INDEX,
            "manifests": [
                {
                    "mediaType": MT_MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest_bytes),
                    "platform": {"architecture": a.arch, "os": a.os},
                    "annotations": {
                        "io.containerd.image.name": full_name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        blob = lambda d: "blobs/sha256/" + d.split(":", 1)[1]  # noqa: E731
        docker_manifest = [{"Config": blob(config_digest), "RepoTags": [f"{repo}:{tag}"], "Layers": [blob(layer_digest)]}]
        repositories = {repo: {tag: layer_digest.split(":", 1)[1]}}

        tmp_out = a.out + ".tmp"
        with open(tmp_out, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
            add_member(tar, "blobs", epoch)
            add_member(tar, "blobs/sha256", epoch)
            blobs = [
                (blob(config_digest), config_bytes, None, None),
                (blob(manifest_digest), manifest_bytes, None, None),
                (blob(layer_digest), None, gz, layer_size),
            ]
            for name, data, fileobj, size in sorted(blobs, key=lambda b: b[0]):
                add_member(tar, name, epoch, data, fileobj, size)
            add_member(tar, "index.json", epoch, canonical_json(index))
            add_member(tar, "manifest.json", epoch, canonical_json(docker_manifest))
            add_member(tar, "oci-layout", epoch, canonical_json({"imageLayoutVersion": "1.0.0"}))
            add_member(tar, "repositories", epoch, canonical_json(repositories))
        os.replace(tmp_out, a.out)

    print(
        f"oci.py: {a.out}: {full_name} ({a.os}/{a.arch}), {len(layer.entries)} entries, "
        f"layer {raw_size} bytes ({layer_size} gzipped), {os.path.getsize(a.out)} bytes in all",
        file=sys.stderr,
    )
    print(manifest_digest)


# --- unpack ------------------------------------------------------------------------------


def unpack(archive, dest):
    """Check every digest of the archive's single image and extract its rootfs."""
    with tarfile.open(archive) as tar:
        members = {posixpath.normpath(m.name): m for m in tar.getmembers() if m.isfile()}

        def read(name):
            if name not in members:
                raise UsageError(f"{archive}: {name} missing")
            return tar.extractfile(members[name]).read()

        def blob(desc):
            data = read("blobs/sha256/" + desc["digest"].split(":", 1)[1])
            got = "sha256:" + hashlib.sha256(data).hexdigest()
            if got != desc["digest"] or len(data) != desc["size"]:
                raise UsageError(f"{archive}: blob {desc['digest']} has digest {got}, size {len(data)}")
            return data

        layout = json.loads(read("oci-layout"))
        if layout.get("imageLayoutVersion") != "1.0.0":
            raise UsageError(f"{archive}: oci-layout {layout}")
        index = json.loads(read("index.json"))
        if len(index["manifests"]) != 1:
            raise UsageError(f"{archive}: expected one manifest in index.json, found {len(index['manifests'])}")
        desc = index["manifests"][0]
        manifest = json.loads(blob(desc))
        config_bytes = blob(manifest["config"])
        config = json.loads(config_bytes)
        diff_ids = config["rootfs"]["diff_ids"]
        if len(diff_ids) != len(manifest["layers"]):
            raise UsageError(f"{archive}: {len(manifest['layers'])} layers but {len(diff_ids)} diff_ids")
        rootfs = os.path.join(dest, "rootfs")
        os.makedirs(rootfs, exist_ok=True)
        for layer_desc, diff_id in zip(manifest["layers"], diff_ids):
            raw = gzip.decompress(blob(layer_desc))
            got = "sha256:" + hashlib.sha256(raw).hexdigest()
            if got != diff_id:
                raise UsageError(f"{archive}: layer {layer_desc['digest']} uncompressed is {got}, config says {diff_id}")
            extract_layer(raw, rootfs)
        with open(os.path.join(dest, "image-config.json"), "wb") as f:
            f.write(config_bytes)
    name = desc.get("annotations", {}).get("io.containerd.image.name", "")
    print(f"{name}@{desc['digest']}")


def extract_layer(raw, rootfs):
    as_root = os.geteuid() == 0
    top = os.path.realpath(rootfs)
    with tarfile.open(fileobj=io.BytesIO(raw)) as layer:
        for m in layer.getmembers():
            name = posixpath.normpath(m.name)
            if name.startswith("/") or name == ".." or name.startswith("../") or ".wh." in posixpath.basename(name):
                raise UsageError(f"layer entry {m.name!r}: absolute, outside the root or a whiteout")
            path = os.path.join(rootfs, name)
            parent = os.path.realpath(os.path.dirname(path))
            if parent != top and not parent.startswith(top + os.sep):
                raise UsageError(f"layer entry {m.name!r}: below a symlink that leaves the root")
            if m.isdir():
                os.makedirs(path, exist_ok=True)
            elif m.issym():
                if os.path.lexists(path):
                    os.unlink(path)
                os.symlink(m.linkname, path)
            elif m.isfile():
                if os.path.lexists(path):
                    os.unlink(path)
                with open(path, "wb") as f:
                    shutil.copyfileobj(layer.extractfile(m), f)
            else:
                raise UsageError(f"layer entry {m.name!r}: unsupported type {m.type!r}")
            if as_root:
                os.lchown(path, m.uid, m.gid)
            if not m.issym():
                os.chmod(path, m.mode)


def main(argv):
    try:
        if argv[:1] == ["unpack"]:
            if len(argv) != 3:
                raise UsageError("usage: oci.py unpack IMAGE.tar DIR")
            unpack(argv[1], argv[2])
        else:
            build(argv)
    except (UsageError, OSError, KeyError, ValueError, tarfile.TarError) as e:
        print(f"oci.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
