package userdata

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

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// pgServer is a throw-away PostgreSQL 15 cluster owned by the postgres user.
type pgServer struct {
	dir, data string
	port      int
	adminPass string
}

// testCA is a throw-away certificate authority made with openssl: crt is what a client names as
// sslrootcert, key signs server certificates.
type testCA struct{ dir, crt, key string }

// serverCert is a PostgreSQL server certificate and its key (PEM files).
type serverCert struct{ crt, key string }

// openssl runs openssl or fails the test with its output.
func openssl(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(requireTool(t, "openssl", "openssl"), args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newTestCA makes a self-signed P-256 CA (basicConstraints CA:TRUE, keyCertSign) named cn.
func newTestCA(t *testing.T, cn string) testCA {
	t.Helper()
	dir := t.TempDir()
	ca := testCA{dir: dir, crt: filepath.Join(dir, "ca.crt"), key: filepath.Join(dir, "ca.key")}
	cnf := filepath.Join(dir, "ca.cnf")
	if err := os.WriteFile(cnf, []byte("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = "+cn+
		"\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openssl(t, "req", "-x509", "-config", cnf, "-extensions", "v3_ca", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", ca.key, "-out", ca.crt, "-days", "1")
	return ca
}

// issue signs a server certificate for subjectAltName san (e.g. "DNS:localhost,IP:127.0.0.1").
func (ca testCA) issue(t *testing.T, name, san string) serverCert {
	t.Helper()
	c := serverCert{crt: filepath.Join(ca.dir, name+".crt"), key: filepath.Join(ca.dir, name+".key")}
	csr, ext := filepath.Join(ca.dir, name+".csr"), filepath.Join(ca.dir, name+".ext")
	if err := os.WriteFile(ext, []byte("[srv]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"+
		"extendedKeyUsage = serverAuth\nauthorityKeyIdentifier = keyid\nsubjectAltName = "+san+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openssl(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", c.key, "-out", csr, "-subj", "/CN="+name)
	openssl(t, "x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key, "-set_serial", strconv.Itoa(1+rand.IntN(1e9)), "-days", "1",
		"-extfile", ext, "-extensions", "srv", "-out", c.crt)
	return c
}

// startPostgres runs initdb (scram-sha-256) in a temp dir owned by postgres and starts the
// server on 127.0.0.1:<free port>, with TLS using cert when cert is not nil; it is stopped in
// t.Cleanup. Only hostssl connections are accepted over TCP with TLS, so a successful
// connection proves TLS was used.
func startPostgres(t *testing.T, cert *serverCert) *pgServer {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		requireTool(t, filepath.Join(pgBin, b), "postgresql-15")
	}
	requireTool(t, "runuser", "util-linux")
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres user: install the Debian package postgresql-15 (%v)", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "userdata-pg-")
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
	s := &pgServer{dir: dir, data: filepath.Join(dir, "data"), port: testenv.FreePort(t), adminPass: "admin-" + strconv.Itoa(rand.IntN(1e9))}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.adminPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(pwfile)
	asPostgres := func(what string, args ...string) {
		t.Helper()
		stdout, stderr, err := run(t, 2*time.Minute, []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}, "", "runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", what, err, stdout, stderr)
		}
	}
	asPostgres("initdb", filepath.Join(pgBin, "initdb"), "-D", s.data, "-A", "scram-sha-256", "--pwfile="+pwfile, "-U", "postgres", "--no-sync")
	hba := "local all all scram-sha-256\n"
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", s.port, dir)
	if cert != nil {
		for src, dst := range map[string]string{cert.crt: "server.crt", cert.key: "server.key"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(s.data, dst)
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
	hbaFile := filepath.Join(s.data, "pg_hba.conf")
	if err := os.WriteFile(hbaFile, []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(hbaFile)
	asPostgres("pg_ctl start", filepath.Join(pgBin, "pg_ctl"), "-D", s.data, "-l", filepath.Join(dir, "server.log"), "-o", opts, "-w", "start")
	t.Cleanup(func() {
		_, _, _ = run(t, time.Minute, []string{"PATH=/usr/bin:/bin"}, "", "runuser", "-u", "postgres", "--",
			filepath.Join(pgBin, "pg_ctl"), "-D", s.data, "-m", "immediate", "-w", "stop")
	})
	return s
}

// psql runs SQL (on stdin, so no secret is on argv) as the postgres superuser over the socket.
func (s *pgServer) psql(t *testing.T, db, sql string) {
	t.Helper()
	psql := requireTool(t, "psql", "postgresql-client-15")
	env := []string{"PATH=/usr/bin:/bin", "PGPASSWORD=" + s.adminPass, "LC_ALL=C"}
	stdout, stderr, err := run(t, time.Minute, env, sql, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", s.dir, "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", db, "-f", "-")
	if err != nil {
		t.Fatalf("psql on %s: %v\n%s%s", db, err, stdout, stderr)
	}
}

func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// createOwner creates p's user with password pw and p's database owned by it.
func (s *pgServer) createOwner(t *testing.T, p Params, pw string) {
	t.Helper()
	s.psql(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s;\nCREATE DATABASE %s OWNER %s;\n",
		p.DatabaseUser, sqlLiteral(pw), p.DatabaseName, p.DatabaseUser))
}

// runHelper runs the real mlflow-db-state with /usr/bin/python3 in exactly the environment the
// launcher gives it: MLFLOW_BACKEND_STORE_URI (BackendStoreURI(p)) and PGPASSWORD.
func runHelper(t *testing.T, python, helper, uri, password string) (string, string, error) {
	t.Helper()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "LC_ALL=C.UTF-8", EnvBackendStoreURI + "=" + uri, "PGPASSWORD=" + password}
	return run(t, time.Minute, env, "", python, helper)
}

// TestBackendStoreConnectsWithGeneratedPasswords protects C2 and the TLS contract against a real
// PostgreSQL 15 whose certificate (SAN DNS:localhost, IP:127.0.0.1) is signed by a test CA: for
// many passwords drawn from the generator's exact alphabet (and one holding every special
// character), the real db-state helper connects through the exact URI form
// (BackendStoreURIWithRootCert(p, test CA)) with PGPASSWORD and reports "empty" / "initialized"
// correctly; a wrong password fails with a one-line message that does not echo it; and
// sslmode=verify-full refuses a certificate from another CA, a certificate not naming the host,
// and a server without TLS.
func TestBackendStoreConnectsWithGeneratedPasswords(t *testing.T) {
	t.Parallel()
	python := requireSystemPython(t)
	d := documents(t)[0]
	files, _ := parseDocument(t, d)
	helper := filepath.Join(t.TempDir(), "mlflow-db-state")
	if err := os.WriteFile(helper, []byte(mustFile(t, d, files, DBStateHelperPath)), 0o755); err != nil {
		t.Fatal(err)
	}

	ca := newTestCA(t, "userdata test RDS CA")
	srv := startPostgres(t, new(ca.issue(t, "localhost", "DNS:localhost,IP:127.0.0.1")))
	p := devLikeParams()
	p.BackendStoreHost, p.BackendStorePort = "127.0.0.1", srv.port
	uri := BackendStoreURIWithRootCert(p, ca.crt)
	if want := strings.Replace(BackendStoreURI(p), "sslrootcert="+RDSCABundlePath, "sslrootcert="+ca.crt, 1); uri != want {
		t.Fatalf("test URI %q is not the program's URI form %q with the test CA", uri, want)
	}
	srv.createOwner(t, p, "initial")

	// Each draw costs one helper run (~0.3-0.6 s: Python + SQLAlchemy start-up dominates).
	draws := 30
	if testing.Short() {
		draws = 10
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("password seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 23))
	passwords := []string{everySpecialPassword}
	for len(passwords) < draws {
		passwords = append(passwords, randomPassword(rng, 8+rng.IntN(33)))
	}
	for i, pw := range passwords {
		// The everything-special password checks both states; the others alternate, so each state
		// is seen with ~15 different passwords while keeping one helper run per draw.
		states := []string{"empty", "initialized"}
		if i > 0 {
			states = states[i%2 : i%2+1]
		}
		sql := fmt.Sprintf("ALTER ROLE %s PASSWORD %s;\nDROP TABLE IF EXISTS public.alembic_version;\n", p.DatabaseUser, sqlLiteral(pw))
		for _, want := range states {
			if want == "initialized" {
				sql += fmt.Sprintf("CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);\nALTER TABLE public.alembic_version OWNER TO %s;\n", p.DatabaseUser)
			}
			srv.psql(t, p.DatabaseName, sql)
			sql = ""
			stdout, stderr, err := runHelper(t, python, helper, uri, pw)
			if err != nil || stdout != want+"\n" {
				t.Fatalf("password %q (draw %d): helper printed %q, want %q (err %v)\nstderr: %s", pw, i, stdout, want, err, stderr)
			}
			if strings.Contains(stdout+stderr, pw) {
				t.Fatalf("password %q (draw %d): helper output contains the password", pw, i)
			}
		}
	}
	last := passwords[len(passwords)-1]
	wantState := []string{"empty", "initialized"}[(len(passwords)-1)%2]
	if len(passwords) == 1 {
		wantState = "initialized"
	}

	// refused runs the helper with uri and password pw and fails unless it exits non-zero with
	// no state and a stderr containing wantErr.
	refused := func(t *testing.T, uri, pw, wantErr string) {
		t.Helper()
		stdout, stderr, err := runHelper(t, python, helper, uri, pw)
		if err == nil || stdout != "" || !strings.Contains(stderr, wantErr) {
			t.Errorf("helper with %s: err=%v stdout=%q stderr=%q; want a refusal containing %q", uri, err, stdout, stderr, wantErr)
		}
		if strings.Contains(stderr, pw) {
			t.Errorf("helper error echoes the password")
		}
	}

	t.Run("host localhost verifies too", func(t *testing.T) {
		q := p
		q.BackendStoreHost = "localhost"
		if stdout, stderr, err := runHelper(t, python, helper, BackendStoreURIWithRootCert(q, ca.crt), last); err != nil || stdout != wantState+"\n" {
			t.Errorf("helper via localhost: err=%v stdout=%q stderr=%q, want %q", err, stdout, stderr, wantState)
		}
	})

	t.Run("wrong password fails with one line", func(t *testing.T) {
		wrong := last + "x"
		stdout, stderr, err := runHelper(t, python, helper, uri, wrong)
		if err == nil || stdout != "" {
			t.Fatalf("helper with a wrong password: err=%v stdout=%q, want a non-zero exit and no state", err, stdout)
		}
		if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "mlflow-db-state: ") {
			t.Errorf("helper error is not one mlflow-db-state line:\n%s", stderr)
		}
		if strings.Contains(stderr, wrong) {
			t.Errorf("helper error echoes the password")
		}
	})

	t.Run("verify-full refuses a certificate from another CA", func(t *testing.T) {
		other := newTestCA(t, "userdata test RDS CA") // same name, other key
		refused(t, BackendStoreURIWithRootCert(p, other.crt), last, "certificate verify failed")
	})

	t.Run("verify-full refuses a certificate not naming the host", func(t *testing.T) {
		t.Parallel()
		named := startPostgres(t, new(ca.issue(t, "db.example.com", "DNS:db.example.com")))
		named.createOwner(t, p, everySpecialPassword)
		q := p
		q.BackendStorePort = named.port
		refused(t, BackendStoreURIWithRootCert(q, ca.crt), everySpecialPassword, `does not match host name "127.0.0.1"`)
		// Control: the chain is good (verify-ca, which skips the name check, connects), so the
		// refusal is the host name check's.
		verifyCA := strings.Replace(BackendStoreURIWithRootCert(q, ca.crt), "sslmode=verify-full", "sslmode=verify-ca", 1)
		if stdout, stderr, err := runHelper(t, python, helper, verifyCA, everySpecialPassword); err != nil || stdout != "empty\n" {
			t.Errorf("control with verify-ca failed: err=%v stdout=%q stderr=%q", err, stdout, stderr)
		}
	})

	t.Run("verify-full refuses a server without TLS", func(t *testing.T) {
		t.Parallel()
		plain := startPostgres(t, nil)
		plain.createOwner(t, p, everySpecialPassword)
		q := p
		q.BackendStorePort = plain.port
		refused(t, BackendStoreURIWithRootCert(q, ca.crt), everySpecialPassword, "SSL")
		// Control: the same server is reachable without TLS, so the refusal is TLS's.
		noTLS := fmt.Sprintf("postgresql://%s@127.0.0.1:%d/%s?sslmode=disable", p.DatabaseUser, plain.port, p.DatabaseName)
		if stdout, stderr, err := runHelper(t, python, helper, noTLS, everySpecialPassword); err != nil || stdout != "empty\n" {
			t.Errorf("control without TLS failed: err=%v stdout=%q stderr=%q", err, stdout, stderr)
		}
	})
}
