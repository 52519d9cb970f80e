package testenv

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PostgresBin is where Debian's postgresql-15 package puts the server binaries.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a throw-away PostgreSQL 15 cluster owned by the postgres user, listening on
// 127.0.0.1:Port (and a Unix socket in Dir).
type Postgres struct {
	Dir, Data     string
	Port          int
	AdminPassword string // of the superuser postgres
}

// CA is a throw-away certificate authority made with openssl: Cert is what a client names as
// sslrootcert, Key signs server certificates.
type CA struct{ Dir, Cert, Key string }

// ServerCert is a server certificate and its key (PEM files).
type ServerCert struct{ Cert, Key string }

// openssl runs openssl or fails the test with its output.
func openssl(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(RequireTool(t, "openssl", "Debian package openssl: "+InstallHint), args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// NewCA makes a self-signed P-256 CA (basicConstraints CA:TRUE, keyCertSign) named cn, valid one day.
func NewCA(t testing.TB, cn string) CA {
	t.Helper()
	dir := t.TempDir()
	ca := CA{Dir: dir, Cert: filepath.Join(dir, "ca.crt"), Key: filepath.Join(dir, "ca.key")}
	cnf := filepath.Join(dir, "ca.cnf")
	if err := os.WriteFile(cnf, []byte("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = "+cn+
		"\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openssl(t, "req", "-x509", "-config", cnf, "-extensions", "v3_ca", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", ca.Key, "-out", ca.Cert, "-days", "1")
	return ca
}

// Issue signs a server certificate named name for subjectAltName san (e.g.
// "DNS:localhost,IP:127.0.0.1").
func (ca CA) Issue(t testing.TB, name, san string) ServerCert {
	t.Helper()
	c := ServerCert{Cert: filepath.Join(ca.Dir, name+".crt"), Key: filepath.Join(ca.Dir, name+".key")}
	csr, ext := filepath.Join(ca.Dir, name+".csr"), filepath.Join(ca.Dir, name+".ext")
	if err := os.WriteFile(ext, []byte("[srv]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"+
		"extendedKeyUsage = serverAuth\nauthorityKeyIdentifier = keyid\nsubjectAltName = "+san+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openssl(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", c.Key, "-out", csr, "-subj", "/CN="+name)
	openssl(t, "x509", "-req", "-in", csr, "-CA", ca.Cert, "-CAkey", ca.Key, "-set_serial", strconv.Itoa(1+rand.IntN(1e9)), "-days", "1",
		"-extfile", ext, "-extensions", "srv", "-out", c.Cert)
	return c
}

// StartPostgres runs initdb (scram-sha-256) in a temp dir owned by postgres and starts the
// server on 127.0.0.1:<free port>, with TLS using cert when cert is not nil; it is stopped in
// t.Cleanup, also when the test fails. With TLS only hostssl connections are accepted over TCP,
// so a successful connection proves TLS was used. The test must run as root (PostgreSQL refuses
// to run as root, so it runs as postgres through runuser).
func StartPostgres(t testing.TB, cert *ServerCert) *Postgres {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		RequireTool(t, filepath.Join(PostgresBin, b), "Debian package postgresql-15: "+InstallHint)
	}
	RequireTool(t, "runuser", "Debian package util-linux")
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres user: %s (%v)", InstallHint, err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "mlflow-aws-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chown := func(p string) {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatalf("chown %s to postgres (the test must run as root): %v", p, err)
		}
	}
	chown(dir)
	s := &Postgres{Dir: dir, Data: filepath.Join(dir, "data"), Port: FreePort(t), AdminPassword: "admin-" + strconv.Itoa(rand.IntN(1e9))}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.AdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(pwfile)
	asPostgres := func(what string, args ...string) {
		t.Helper()
		stdout, stderr, err := Run(t, 2*time.Minute, []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}, "", "runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", what, err, stdout, stderr)
		}
	}
	asPostgres("initdb", filepath.Join(PostgresBin, "initdb"), "-D", s.Data, "-A", "scram-sha-256", "--pwfile="+pwfile, "-U", "postgres", "--no-sync")
	hba := "local all all scram-sha-256\n"
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", s.Port, dir)
	if cert != nil {
		for src, dst := range map[string]string{cert.Cert: "server.crt", cert.Key: "server.key"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(s.Data, dst)
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			chown(f)
		}
		hba += "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n"
		opts += " -c ssl=on"
	} else {
		hba += "host all all 127.0.0.1/32 scram-sha-256\n"
		opts += " -c ssl=off"
	}
	hbaFile := filepath.Join(s.Data, "pg_hba.conf")
	if err := os.WriteFile(hbaFile, []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(hbaFile)
	asPostgres("pg_ctl start", filepath.Join(PostgresBin, "pg_ctl"), "-D", s.Data, "-l", filepath.Join(dir, "server.log"), "-o", opts, "-w", "start")
	t.Cleanup(func() {
		_, _, _ = Run(t, time.Minute, []string{"PATH=/usr/bin:/bin"}, "", "runuser", "-u", "postgres", "--",
			filepath.Join(PostgresBin, "pg_ctl"), "-D", s.Data, "-m", "immediate", "-w", "stop")
	})
	return s
}

// SQL runs sql (on stdin, so no secret is on argv) as the superuser postgres over the socket
// in database db, stopping at the first error.
func (s *Postgres) SQL(t testing.TB, db, sql string) string {
	t.Helper()
	psql := RequireTool(t, "psql", "Debian package postgresql-client-15: "+InstallHint)
	env := []string{"PATH=/usr/bin:/bin", "PGPASSWORD=" + s.AdminPassword, "LC_ALL=C"}
	stdout, stderr, err := Run(t, time.Minute, env, sql, psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", s.Dir, "-p", strconv.Itoa(s.Port), "-U", "postgres", "-d", db, "-f", "-")
	if err != nil {
		t.Fatalf("psql on %s: %v\n%s%s", db, err, stdout, stderr)
	}
	return stdout
}

// SQLLiteral quotes s as a PostgreSQL string literal.
func SQLLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// CreateOwner creates the login role user with password pw and database db owned by it.
func (s *Postgres) CreateOwner(t testing.TB, user, db, pw string) {
	t.Helper()
	s.SQL(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s;\nCREATE DATABASE %s OWNER %s;\n", user, SQLLiteral(pw), db, user))
}
