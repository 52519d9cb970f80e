package userdata

import (
	"fmt"
	"regexp"
	"strings"
)

// EnvValuePunctuation lists the characters, besides ASCII letters and digits, that a value in
// EnvFilePath may contain. Values are written unquoted, so every allowed character must mean the
// same to systemd's EnvironmentFile= parser (systemd.exec(5)) and to bash reading the file as
// assignments (`set -a; . /etc/mlflow/mlflow.env`): no whitespace, quotes, backslash, '$',
// backtick, '#', ';', '&', '|', '<', '>', '(', ')', '*', '[', '~', '!', braces or control characters.
// '?' and '=' are safe because bash performs neither pathname expansion nor word splitting on
// assignment values, and systemd splits a line only at its first '='. '&' (which separates the
// query parameters of the backend store URI) would end a bash command, so EnvLine single-quotes
// every value containing it: both systemd.exec(5) and bash take a single-quoted value verbatim.
const EnvValuePunctuation = "-_.,:/@=?%+&"

// envQuotedPunctuation are the EnvValuePunctuation characters EnvLine single-quotes a value for.
const envQuotedPunctuation = "&"

var envKeyRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// CheckEnvValue returns nil when value may be written unquoted as the right-hand side of a
// KEY=value line in EnvFilePath (ASCII letters, digits and EnvValuePunctuation; the empty string
// is allowed), else an error naming the first offending character and its byte offset.
func CheckEnvValue(value string) error {
	for i, r := range value {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(EnvValuePunctuation, r)) {
			continue
		}
		return fmt.Errorf("contains %q at byte %d; only ASCII letters, digits and %q are allowed", r, i, EnvValuePunctuation)
	}
	return nil
}

// EnvLine returns "KEY=value\n" for EnvFilePath ("KEY='value'\n" when value contains '&'), or an
// error when key is not an upper-case shell identifier ([A-Z_][A-Z0-9_]*) or value fails
// CheckEnvValue. The error names the key.
func EnvLine(key, value string) (string, error) {
	if !envKeyRe.MatchString(key) {
		return "", fmt.Errorf("environment key %q is not an upper-case identifier like MLFLOW_PORT", key)
	}
	if err := CheckEnvValue(value); err != nil {
		return "", fmt.Errorf("%s value %q %w", key, value, err)
	}
	if strings.ContainsAny(value, envQuotedPunctuation) {
		return key + "='" + value + "'\n", nil
	}
	return key + "=" + value + "\n", nil
}
