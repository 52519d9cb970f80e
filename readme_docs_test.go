package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeConfigDescriptions: each row of README's configuration table carries the
// description Pulumi.yaml gives the key (what `pulumi config` users see), word for word, so
// the two cannot drift apart (TestReadmeConfigTable checks type and default).
func TestReadmeConfigDescriptions(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Config map[string]struct {
			Description string `yaml:"description"`
		} `yaml:"config"`
	}
	readYAML(t, "Pulumi.yaml", &project)
	if len(project.Config) < 10 {
		t.Fatalf("Pulumi.yaml declares only %d keys", len(project.Config))
	}
	for k, d := range project.Config {
		var row string // the configuration table's row; the outputs table may name the key too
		for _, line := range strings.Split(string(readme), "\n") {
			if strings.HasPrefix(line, "| `"+k+"` |") && strings.Count(line, " | ") == 3 {
				row = line
				break
			}
		}
		if row == "" {
			t.Errorf("README has no configuration row for %s", k)
			continue
		}
		if !strings.HasSuffix(row, "| "+d.Description+" |") {
			t.Errorf("README row for %s does not end with Pulumi.yaml's description %q:\n%s", k, d.Description, row)
		}
	}
}

// alwaysAllowedHosts are the Host header values the server accepts whatever allowedHosts
// says, each bare and with :5000: components.NewTrackingServer writes the first four into
// the user data (components.AllowedHosts), and the launcher adds the private IPv4 at start
// (userdata/templates/mlflow-launch.sh.tmpl, meta-data/local-ipv4). The phrases are how the
// documents name them.
var alwaysAllowedHosts = []string{"localhost", "127.0.0.1", "Elastic IP", "DNS name", "private IP"}

// TestReadmeAlwaysAllowedHostsAgree: Pulumi.yaml's allowedHosts description, README's
// "Reaching the server" and docs/operations.md's "Invalid Host header" name the same
// always-allowed hosts, and the launcher still adds the private IP they promise.
func TestReadmeAlwaysAllowedHostsAgree(t *testing.T) {
	var project struct {
		Config map[string]struct {
			Description string `yaml:"description"`
		} `yaml:"config"`
	}
	readYAML(t, "Pulumi.yaml", &project)
	paragraph := func(path, start string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		i := strings.Index(text, start)
		if i < 0 {
			t.Fatalf("%s has no paragraph starting %q", path, start)
		}
		text = text[i:]
		if end := strings.Index(text, "\n\n"); end >= 0 {
			text = text[:end]
		}
		return strings.Join(strings.Fields(text), " ")
	}
	texts := map[string]string{
		"Pulumi.yaml allowedHosts":       project.Config["allowedHosts"].Description,
		"README Reaching the server":     paragraph("README.md", "Use local port 5000:"),
		"operations Invalid Host header": paragraph("docs/operations.md", "**`Invalid Host header`"),
	}
	for where, text := range texts {
		for _, host := range alwaysAllowedHosts {
			if !strings.Contains(text, host) {
				t.Errorf("%s does not name the always-allowed %q: %s", where, host, text)
			}
		}
		if !strings.Contains(text, ":5000") {
			t.Errorf("%s does not say the hosts are allowed with :5000 too: %s", where, text)
		}
	}
	launcher, err := os.ReadFile("userdata/templates/mlflow-launch.sh.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(launcher), "meta-data/local-ipv4") {
		t.Error("the launcher no longer reads the private IPv4 from IMDS: the documents promise it is allowed")
	}
}
