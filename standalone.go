package main

import (
	"fmt"
	"io"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// standaloneUsage is what the binary prints when a person runs it directly: pulumi.Run would
// otherwise exit 32 without a word, because only the Pulumi engine supplies the addresses it
// connects to.
const standaloneUsage = `mlflow-aws is a Pulumi program: it deploys an MLflow tracking server on AWS
(RDS PostgreSQL backend store, S3 artifact store, EC2 tracking server).

It is not run by hand. The Pulumi CLI runs it; from the project directory (where
Pulumi.yaml is):

  pulumi stack select dev     # or prod; pulumi stack init <name> the first time
  pulumi preview              # what would change
  pulumi up                   # deploy

See README.md.
`

// runByHand reports whether the process was started outside the Pulumi engine: the Go
// language host always sets the resource monitor and engine addresses (pulumi.EnvMonitor,
// pulumi.EnvEngine), and PULUMI_PLUGINS asks the program only to list its plugins, which
// pulumi.Run handles.
func runByHand(getenv func(string) string) bool {
	return getenv(pulumi.EnvMonitor) == "" && getenv(pulumi.EnvEngine) == "" && getenv("PULUMI_PLUGINS") == ""
}

// printStandaloneUsage writes standaloneUsage to w and returns the exit status for it.
func printStandaloneUsage(w io.Writer) int {
	fmt.Fprint(w, standaloneUsage)
	return 2
}
