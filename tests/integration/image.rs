//! The image `make image` writes (`hack/image.sh`, `hack/image/oci.py`), checked without the
//! release build or a cluster: `/bin/true`, dynamically linked against glibc like nflbet, stands
//! in for the binary. What the archive must be for containerd, skopeo, podman and docker:
//! - an OCI image layout: `oci-layout`, `index.json` naming one manifest, whose config and
//!   layer blobs match their digests and sizes, and whose `diff_ids` are the uncompressed layer's;
//!   `manifest.json` (docker load) names the same blobs;
//! - the Dockerfile's result: user, entrypoint, cmd, port and labels read from the Dockerfile,
//!   env and working directory as distroless sets them;
//! - a layer with the binary at `/nflbet`, every library `ldd` reports and the loader at their
//!   paths, Debian's CA bundle without this host's locally added CAs, a nonroot user 65532, every
//!   file owned by root (only `/home/nonroot` belongs to 65532);
//! - named as the chart's default image, or `IMAGE_REPO`;
//! - deterministic: built twice, byte for byte the same, same digest.
//!
//! `hack/image.sh verify` runs the real image with runc (see docs/install.md).

use flate2::read::GzDecoder;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const STAND_IN: &str = "/bin/true";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `hack/image.sh build` with the stand-in binary; returns the digest it printed.
fn build_image(out: &Path, repo: Option<&str>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("hack/image.sh"))
        .arg("build")
        .env("NFLBET_BINARY", STAND_IN)
        .env("IMAGE_OUT", out)
        .env_remove("IMAGE_TAG")
        .env_remove("SOURCE_DATE_EPOCH");
    match repo {
        Some(r) => cmd.env("IMAGE_REPO", r),
        None => cmd.env_remove("IMAGE_REPO"),
    };
    let output = cmd.output().expect("run hack/image.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "hack/image.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Digest  "))
        .unwrap_or_else(|| panic!("no digest printed:\n{stdout}"));
    digest.trim().to_string()
}

/// `sha256:<hex>` of `data`, by coreutils' sha256sum (independent of the Python writer).
fn sha256(data: &[u8]) -> String {
    let mut child =
        Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("sha256sum");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

struct TarEntry {
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    link: String,
    data: Vec<u8>,
}

fn octal(field: &[u8]) -> u64 {
    let s = String::from_utf8_lossy(field);
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() { 0 } else { u64::from_str_radix(s, 8).unwrap_or_else(|_| panic!("octal field {s:?}")) }
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8(field[..end].to_vec()).unwrap()
}

/// A ustar/pax tar, as name (without trailing '/') -> entry. Fails on anything unexpected.
fn read_tar(bytes: &[u8]) -> BTreeMap<String, TarEntry> {
    let mut entries = BTreeMap::new();
    let mut pax: BTreeMap<String, String> = BTreeMap::new();
    let mut off = 0;
    while off + 512 <= bytes.len() {
        let h = &bytes[off..off + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        assert_eq!(&h[257..262], b"ustar", "not a ustar header at {off}");
        let size = octal(&h[124..136]) as usize;
        let data = bytes[off + 512..off + 512 + size].to_vec();
        off += 512 + size.div_ceil(512) * 512;
        let kind = h[156];
        if kind == b'x' {
            let mut rest = data.as_slice();
            while !rest.is_empty() {
                let sp = rest.iter().position(|&b| b == b' ').unwrap();
                let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
                let record = std::str::from_utf8(&rest[sp + 1..len - 1]).unwrap();
                let (k, v) = record.split_once('=').unwrap();
                pax.insert(k.to_string(), v.to_string());
                rest = &rest[len..];
            }
            continue;
        }
        assert_ne!(kind, b'g', "global pax header");
        let prefix = cstr(&h[345..500]);
        let mut name = cstr(&h[0..100]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let name = pax.remove("path").unwrap_or(name).trim_end_matches('/').to_string();
        let link = pax.remove("linkpath").unwrap_or_else(|| cstr(&h[157..257]));
        pax.clear();
        let entry = TarEntry {
            kind,
            mode: octal(&h[100..108]) as u32,
            uid: octal(&h[108..116]),
            gid: octal(&h[116..124]),
            link,
            data,
        };
        assert!(entries.insert(name.clone(), entry).is_none(), "{name} twice in the tar");
    }
    entries
}

fn blob<'a>(archive: &'a BTreeMap<String, TarEntry>, desc: &Value) -> &'a [u8] {
    let digest = desc["digest"].as_str().unwrap();
    let name = format!("blobs/sha256/{}", digest.strip_prefix("sha256:").unwrap());
    let data = &archive.get(&name).unwrap_or_else(|| panic!("{name} missing")).data;
    assert_eq!(sha256(data), digest, "{name}: content does not match its digest");
    assert_eq!(data.len() as u64, desc["size"].as_u64().unwrap(), "{name}: size");
    data
}

/// The final stage of the Dockerfile: labels (with `${VERSION}` as given), USER, ENTRYPOINT, CMD,
/// EXPOSE.
fn dockerfile_final_stage(version: &str) -> (BTreeMap<String, String>, BTreeMap<String, Value>) {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let stage = joined.rsplit_once("\nFROM ").unwrap().1;
    let mut labels = BTreeMap::new();
    let mut other = BTreeMap::new();
    for line in stage.lines() {
        let (instr, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        match instr {
            "LABEL" => {
                // key="value with spaces" pairs
                let mut rest = rest.trim();
                while let Some((key, after)) = rest.split_once("=\"") {
                    let (value, tail) = after.split_once('"').unwrap();
                    labels.insert(key.trim().to_string(), value.replace("${VERSION}", version));
                    rest = tail.trim();
                }
            }
            "USER" => {
                other.insert("User".into(), Value::String(rest.trim().into()));
            }
            "ENTRYPOINT" | "CMD" => {
                let key = if instr == "CMD" { "Cmd" } else { "Entrypoint" };
                other.insert(key.into(), serde_json::from_str(rest).unwrap());
            }
            "EXPOSE" => {
                let port = rest.trim();
                let port = if port.contains('/') { port.to_string() } else { format!("{port}/tcp") };
                other.insert("ExposedPorts".into(), serde_json::json!({ port: {} }));
            }
            _ => {}
        }
    }
    (labels, other)
}

/// Paths `ldd` reports for the stand-in (libraries and loader).
fn ldd_paths(binary: &str) -> Vec<String> {
    let out = Command::new("ldd").arg(binary).env("LC_ALL", "C").output().expect("ldd");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = l.split_once(" => ").map(|(_, p)| p).unwrap_or(l);
            let path = path.split(" (0x").next().unwrap();
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

fn crate_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

struct Checked {
    index_name: String,
    repo_tag: String,
    manifest_digest: String,
}

/// Every check of the module doc on one archive.
fn check_archive(path: &Path) -> Checked {
    let archive = read_tar(&std::fs::read(path).unwrap());
    for (name, e) in &archive {
        assert_eq!((e.uid, e.gid), (0, 0), "{name} in the archive is not owned by root");
    }
    let layout: Value = serde_json::from_slice(&archive["oci-layout"].data).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value = serde_json::from_slice(&archive["index.json"].data).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "one image in index.json");
    let desc = &manifests[0];
    assert_eq!(desc["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(desc["platform"]["os"], "linux");
    assert_eq!(desc["annotations"]["org.opencontainers.image.ref.name"], crate_version());
    let manifest: Value = serde_json::from_slice(blob(&archive, desc)).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    let config: Value = serde_json::from_slice(blob(&archive, &manifest["config"])).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    let compressed = blob(&archive, &layers[0]);
    let mut raw = Vec::new();
    GzDecoder::new(compressed).read_to_end(&mut raw).unwrap();
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!([sha256(&raw)]), "diff_id of the layer");
    assert_eq!(config["architecture"], desc["platform"]["architecture"]);

    // docker load reads manifest.json: the same config and layer.
    let docker: Value = serde_json::from_slice(&archive["manifest.json"].data).unwrap();
    let blob_path =
        |d: &Value| format!("blobs/sha256/{}", d["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    assert_eq!(docker[0]["Config"].as_str().unwrap(), blob_path(&manifest["config"]));
    assert_eq!(docker[0]["Layers"], serde_json::json!([blob_path(&layers[0])]));

    // The Dockerfile's final stage, and distroless's env and working directory.
    let c = &config["config"];
    let (labels, dockerfile) = dockerfile_final_stage(crate_version());
    for (key, value) in &dockerfile {
        assert_eq!(&c[key], value, "{key}: the image and the Dockerfile differ");
    }
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/nflbet"]));
    assert_eq!(c["Cmd"], serde_json::json!(["operator"]));
    assert!(labels.len() >= 5, "labels parsed from the Dockerfile: {labels:?}");
    let image_labels: BTreeMap<String, String> = serde_json::from_value(c["Labels"].clone()).unwrap();
    assert_eq!(image_labels, labels, "labels: the image and the Dockerfile differ");
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
        ])
    );
    assert_eq!(c["WorkingDir"], "/home/nonroot");

    // The layer.
    let files = read_tar(&raw);
    for (name, e) in &files {
        assert!(!name.starts_with('/') && !name.split('/').any(|c| c == ".."), "{name}: outside the root");
        assert!(!name.contains(".wh."), "{name}: a whiteout");
        if name == "home/nonroot" {
            assert_eq!((e.uid, e.gid, e.mode, e.kind), (65532, 65532, 0o700, b'5'), "{name}");
        } else {
            assert_eq!((e.uid, e.gid), (0, 0), "{name} is not owned by root");
        }
        if let Some((parent, _)) = name.rsplit_once('/') {
            assert_eq!(files.get(parent).map(|p| p.kind), Some(b'5'), "{name}: parent directory missing");
        }
    }
    let nflbet = &files["nflbet"];
    assert_eq!((nflbet.kind, nflbet.mode), (b'0', 0o755));
    assert_eq!(nflbet.data, std::fs::read(STAND_IN).unwrap(), "/nflbet is the binary given");
    let libs = ldd_paths(STAND_IN);
    assert!(libs.iter().any(|l| l.contains("libc.so")), "ldd {STAND_IN}: {libs:?}");
    assert!(libs.iter().any(|l| l.contains("ld-linux")), "ldd {STAND_IN}: {libs:?}");
    for lib in &libs {
        let e = files.get(lib.trim_start_matches('/')).unwrap_or_else(|| panic!("{lib} missing"));
        assert_eq!(e.kind, b'0', "{lib}: a regular file");
        assert_eq!(e.data, std::fs::read(lib).unwrap(), "{lib}: the host's library");
    }
    let bundle = String::from_utf8(files["etc/ssl/certs/ca-certificates.crt"].data.clone()).unwrap();
    assert!(bundle.matches("-----BEGIN CERTIFICATE-----").count() > 100, "Debian's CA bundle");
    if let Ok(dir) = std::fs::read_dir("/usr/local/share/ca-certificates") {
        for local in dir.flatten() {
            let pem = std::fs::read_to_string(local.path()).unwrap_or_default();
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            if !body.is_empty() {
                let flat: String = bundle.lines().collect();
                assert!(
                    !flat.contains(&body),
                    "{}: a CA added on this host is in the image",
                    local.path().display()
                );
            }
        }
    }
    let passwd = String::from_utf8(files["etc/passwd"].data.clone()).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("nonroot:x:65532:65532:")), "{passwd}");
    let group = String::from_utf8(files["etc/group"].data.clone()).unwrap();
    assert!(group.lines().any(|l| l == "nonroot:x:65532:"), "{group}");
    assert_eq!((files["tmp"].kind, files["tmp"].mode), (b'5', 0o1777));
    assert!(files.contains_key("var/lib/dpkg/status.d/libc6"), "dpkg status of glibc for scanners");
    assert!(files.values().all(|e| e.link.is_empty()), "no links expected in this image");

    Checked {
        index_name: desc["annotations"]["io.containerd.image.name"].as_str().unwrap().to_string(),
        repo_tag: docker[0]["RepoTags"][0].as_str().unwrap().to_string(),
        manifest_digest: desc["digest"].as_str().unwrap().to_string(),
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("nflbet-image-test").tempdir().unwrap()
}

#[test]
fn image_archive_is_a_valid_oci_layout_and_docker_archive_with_the_dockerfiles_layout() {
    let dir = temp_dir();
    let out: PathBuf = dir.path().join("nflbet.oci.tar");
    let digest = build_image(&out, Some("registry.example.com/team/nflbet"));
    let checked = check_archive(&out);
    assert_eq!(checked.manifest_digest, digest, "the digest printed is the manifest's");
    let want = format!("registry.example.com/team/nflbet:{}", crate_version());
    assert_eq!(checked.index_name, want, "IMAGE_REPO names the image (containerd, podman)");
    assert_eq!(checked.repo_tag, want, "IMAGE_REPO names the image (docker)");
}

#[test]
fn image_is_deterministic() {
    let dir = temp_dir();
    let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
    let (da, db) = (build_image(&a, Some("nflbet.dev/nflbet")), build_image(&b, Some("nflbet.dev/nflbet")));
    assert_eq!(da, db, "same inputs, same digest");
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "same inputs, same bytes");
}

#[test]
fn chart_default_image_is_the_one_make_image_builds() {
    let values: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("charts/nflbet-operator/values.yaml")).unwrap(),
    )
    .unwrap();
    let chart: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("charts/nflbet-operator/Chart.yaml")).unwrap(),
    )
    .unwrap();
    let repository = values["image"]["repository"].as_str().unwrap();
    assert_eq!(values["image"]["tag"].as_str(), Some(""), "the tag defaults to appVersion");
    assert_eq!(chart["appVersion"].as_str(), Some(crate_version()), "appVersion is the crate version");

    let dir = temp_dir();
    let out = dir.path().join("default.tar");
    build_image(&out, None);
    let checked = check_archive(&out);
    let chart_image = format!("{repository}:{}", crate_version());
    assert_eq!(checked.repo_tag, chart_image);
    assert_eq!(
        checked.index_name, chart_image,
        "already fully qualified, so containerd finds it by that name"
    );
}

/// `build.rs` packs the binary's relative relocations (DT_RELR): unpacked, their 2 MB table is
/// read at every start and stays resident in every nflbet process. The glibc the image carries
/// (Debian 12's 2.36) is the first to load packed relocations.
#[test]
fn the_binary_packs_its_relative_relocations() {
    let out = Command::new("readelf")
        .args(["--dynamic", "--wide", env!("CARGO_BIN_EXE_nflbet")])
        .output()
        .expect("readelf (binutils, which links the binary) runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(dynamic.contains("(RELR)"), "no DT_RELR entry in:\n{dynamic}");
    let relocations = Command::new("readelf")
        .args(["--section-headers", "--wide", env!("CARGO_BIN_EXE_nflbet")])
        .output()
        .unwrap();
    let sections = String::from_utf8_lossy(&relocations.stdout);
    let rela_dyn = sections
        .lines()
        .find(|l| l.contains(" .rela.dyn "))
        .and_then(|l| l.split_whitespace().skip_while(|w| *w != ".rela.dyn").nth(4))
        .map(|size| u64::from_str_radix(size, 16).unwrap());
    assert!(
        rela_dyn.is_none_or(|size| size < 64 * 1024),
        ".rela.dyn is {rela_dyn:?} bytes: the relative relocations are not packed"
    );
}
