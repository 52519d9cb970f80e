package userdata

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cloudInitDecode is cloud-init's own user data processing (cloudinit.user_data, the code the
// instance runs on boot): it reads the raw user data bytes from argv[1] and prints the content
// type and payload of each part.
const cloudInitDecode = `
import sys
from cloudinit import user_data
raw = open(sys.argv[1], "rb").read()
msg = user_data.UserDataProcessor({}).process(raw)
parts = [p for p in msg.walk() if p.get_content_maintype() != "multipart"]
if len(parts) != 1:
    sys.exit("want 1 part, got %d" % len(parts))
sys.stdout.write(parts[0].get_content_type() + "\n")
sys.stdout.buffer.write(parts[0].get_payload(decode=True))
`

// TestCloudInitDecodesEC2UserData: what the instance receives (EncodeForEC2: gzip, then base64
// for userDataBase64, which EC2 decodes) is turned back by cloud-init itself into exactly the
// rendered #cloud-config document, for every fixture and golden.
func TestCloudInitDecodesEC2UserData(t *testing.T) {
	py := requireTool(t, "/usr/bin/python3", "python3")
	if out, err := exec.Command(py, "-c", "import cloudinit.user_data").CombinedOutput(); err != nil {
		t.Fatalf("/usr/bin/python3 cannot import cloudinit: install the Debian package cloud-init: %v\n%s", err, out)
	}
	for _, d := range documents(t) {
		enc, err := EncodeForEC2(d.text)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		raw, err := base64.StdEncoding.DecodeString(enc) // EC2 hands the instance these bytes
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "user-data")
		if err := os.WriteFile(file, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", cloudInitDecode, file).Output()
		if err != nil {
			t.Fatalf("%s: cloud-init could not process the gzipped user data: %v", d.name, err)
		}
		want := "text/cloud-config\n" + d.text
		if string(out) != want {
			t.Errorf("%s: cloud-init decoded %d bytes that differ from the %d-byte document", d.name, len(out), len(want))
		}
	}
}
