package userdata

import (
	"io/fs"
	"strings"
	"testing"
)

// TestStripCommentLines: whole-line comments go, the "#!" line, shellcheck directives, code,
// trailing comments and blank lines stay.
func TestStripCommentLines(t *testing.T) {
	in := "#!/bin/bash\n# explains\n  # indented\n# shellcheck disable=SC1091\nx=1 # trailing\n\n[Unit]\n#Description\n"
	want := "#!/bin/bash\n# shellcheck disable=SC1091\nx=1 # trailing\n\n[Unit]\n"
	if got := stripCommentLines(in); got != want {
		t.Errorf("stripCommentLines = %q, want %q", got, want)
	}
	if got := stripCommentLines("a\n#!not first\n"); got != "a\n" {
		t.Errorf("a #! line after the first is a comment: got %q", got)
	}
}

// TestTemplatesHaveNoCommentLikeData: stripCommentLines may only remove comments, so no
// template holds a here-document or a multi-line Python string with a line starting with "#"
// (data that would look like a comment).
func TestTemplatesHaveNoCommentLikeData(t *testing.T) {
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		if err != nil {
			return err
		}
		inString := false
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(strings.ReplaceAll(line, "<<<", ""), "<<") {
				t.Errorf("%s:%d: a here-document; stripCommentLines would cut its # lines", path, i+1)
			}
			if inString && strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
				t.Errorf("%s:%d: a # line inside a multi-line string", path, i+1)
			}
			if strings.Count(line, `"""`)%2 == 1 {
				inString = !inString
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
