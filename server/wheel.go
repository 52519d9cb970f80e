// Package server ships the Python package in this directory, mlflow-aws-auth (the MLflow app
// plugin with basic-auth and the promotion rule, see README.md here), to the tracking server: it
// builds its wheel (PEP 427; the binary distribution format of the Python Packaging User Guide)
// from the embedded sources, byte for byte the same on every build, so the program can upload it
// beside the venv's lock and the bootstrap can install it with pip --require-hashes.
package server

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed src/mlflow_aws_auth/*.py
var sources embed.FS

const (
	// DistributionName is the wheel's distribution name (pyproject.toml's name, normalised).
	DistributionName = "mlflow_aws_auth"
	// Version is pyproject.toml's version (TestWheelMatchesPyproject keeps them equal).
	Version = "0.1.0"
	// AppName is the name `mlflow server --app-name` takes (entry point group mlflow.app).
	AppName = "mlflow-aws"
	// BootstrapCommand is the console script the launcher runs before mlflow server.
	BootstrapCommand = "mlflow-aws-auth"
	// objectPrefix is the S3 key prefix of program-owned bootstrap objects (as the lock's).
	objectPrefix = "bootstrap"
)

// entryPoints is the wheel's entry_points.txt, as pyproject.toml declares them.
const entryPoints = "[console_scripts]\n" + BootstrapCommand + " = mlflow_aws_auth.bootstrap:main\n\n" +
	"[mlflow.app]\n" + AppName + " = mlflow_aws_auth.app:create_app\n"

// Wheel is the built wheel of mlflow-aws-auth.
type Wheel struct {
	// FileName is the wheel's file name, "mlflow_aws_auth-<Version>-py3-none-any.whl" (pip
	// reads the name, version and tags from it).
	FileName string
	// Content is the wheel (a zip archive).
	Content []byte
	// SHA256 is the lower-case hex SHA-256 of Content.
	SHA256 string
}

// ObjectKey is the S3 key the program uploads the wheel to:
// "bootstrap/<first 12 hex digits of SHA256>/<FileName>"; a changed plugin is a new object.
func (w Wheel) ObjectKey() string {
	return objectPrefix + "/" + w.SHA256[:12] + "/" + w.FileName
}

// BuildWheel builds the wheel from the embedded sources: the package's .py files, then the
// .dist-info files METADATA, WHEEL, entry_points.txt, top_level.txt and RECORD (with each
// file's urlsafe-base64 SHA-256, as PEP 376/427 require). Every entry has the same timestamp
// (1980-01-01, zip's earliest), so equal sources give equal bytes.
func BuildWheel() (Wheel, error) {
	distInfo := DistributionName + "-" + Version + ".dist-info"
	files := map[string][]byte{
		distInfo + "/METADATA":         []byte("Metadata-Version: 2.1\nName: mlflow-aws-auth\nVersion: " + Version + "\nRequires-Python: >=3.10\n"),
		distInfo + "/WHEEL":            []byte("Wheel-Version: 1.0\nGenerator: mlflow-aws (server/wheel.go)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
		distInfo + "/entry_points.txt": []byte(entryPoints),
		distInfo + "/top_level.txt":    []byte(DistributionName + "\n"),
	}
	err := fs.WalkDir(sources, "src", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sources.ReadFile(p)
		files[strings.TrimPrefix(p, "src/")] = b
		return err
	})
	if err != nil {
		return Wheel{}, fmt.Errorf("read the plugin sources: %w", err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	epoch := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(name string, content []byte) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch})
		if err != nil {
			return err
		}
		_, err = w.Write(content)
		return err
	}
	for _, n := range names {
		sum := sha256.Sum256(files[n])
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", n, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[n]))
		if err := add(n, files[n]); err != nil {
			return Wheel{}, fmt.Errorf("build the plugin wheel: %w", err)
		}
	}
	record.WriteString(path.Join(distInfo, "RECORD") + ",,\n")
	if err := add(distInfo+"/RECORD", []byte(record.String())); err != nil {
		return Wheel{}, fmt.Errorf("build the plugin wheel: %w", err)
	}
	if err := zw.Close(); err != nil {
		return Wheel{}, fmt.Errorf("build the plugin wheel: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return Wheel{FileName: DistributionName + "-" + Version + "-py3-none-any.whl", Content: buf.Bytes(), SHA256: hex.EncodeToString(sum[:])}, nil
}
