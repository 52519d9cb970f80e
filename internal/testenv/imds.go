package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// IMDSToken is the token an IMDSStub issues.
const IMDSToken = "AQAEAFakeImdsV2Token-0123456789abcdef=="

// IMDSStub is an IMDSv2 stand-in on 127.0.0.1: PUT /latest/api/token (with the TTL header
// X-aws-ec2-metadata-token-ttl-seconds: 60) issues IMDSToken; GET /latest/meta-data/local-ipv4
// answers the configured body only with that token in X-aws-ec2-metadata-token (401 otherwise, as
// IMDSv2 does for token-less IMDSv1 requests). Everything else is recorded as a bad request.
type IMDSStub struct {
	URL     string
	mu      sync.Mutex
	tokens  int // tokens issued
	answers int // local-ipv4 answers given with a valid token
	bad     []string
}

// StartIMDSStub serves localIPv4 as local-ipv4; tokenStatus, when non-zero, is the status of
// every token request (the token endpoint refuses). It is closed in t.Cleanup.
func StartIMDSStub(t testing.TB, localIPv4 string, tokenStatus int) *IMDSStub {
	t.Helper()
	s := &IMDSStub{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") != "60" {
				s.bad = append(s.bad, "token request without X-aws-ec2-metadata-token-ttl-seconds: 60")
				http.Error(w, "missing TTL", http.StatusBadRequest)
				return
			}
			if tokenStatus != 0 {
				http.Error(w, "refused", tokenStatus)
				return
			}
			s.tokens++
			fmt.Fprint(w, IMDSToken)
		case r.Method == http.MethodGet && r.URL.Path == "/latest/meta-data/local-ipv4":
			if s.tokens == 0 || r.Header.Get("X-aws-ec2-metadata-token") != IMDSToken {
				s.bad = append(s.bad, fmt.Sprintf("local-ipv4 request with token %q (tokens issued: %d)", r.Header.Get("X-aws-ec2-metadata-token"), s.tokens))
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			s.answers++
			fmt.Fprint(w, localIPv4)
		default:
			s.bad = append(s.bad, r.Method+" "+r.URL.Path)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests returns the tokens issued, the valid local-ipv4 answers and the malformed requests.
func (s *IMDSStub) Requests() (tokens, answers int, bad []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens, s.answers, slices.Clone(s.bad)
}
