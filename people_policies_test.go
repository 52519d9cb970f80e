package main

// IAM policies for people, checked against the commands the documents tell them to run:
// docs/user-policy.json (the port forward, for people who only use MLflow) and
// docs/operator-policy.json (every `aws` command in README.md and docs/operations.md). Each
// command is parsed from the Markdown's code with a real shell parser, mapped to the IAM
// requests it makes (peopleCommandActions), and the requests are evaluated against the policy
// with the stack's real names from the mocked dev and prod graphs. The same parse checks the
// documents themselves: every aws command names --region, and no command is cut short with "…".

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/components"
	"mvdan.cc/sh/v3/syntax"
)

const (
	userPolicyPath     = "docs/user-policy.json"
	operatorPolicyPath = "docs/operator-policy.json"
	// serverMarker opens a code block whose commands run on the tracking server, with the
	// instance role's credentials instead of the operator's.
	serverMarker = "# on the tracking server"
	// Callers the policies are evaluated for: an IAM Identity Center (role) session and an
	// IAM user. ${aws:userid} is "<role id>:<session name>" for the first, the user id for the
	// second.
	roleUserID = "AROAEXAMPLEROLEID0001:alice"
	iamUserID  = "AIDAEXAMPLEUSERID0001"
	// mlflowUser is the MLflow user name the callers carry in the principal tag mlflow-user
	// (an IAM user's tag, or an Identity Center session tag), as README's "Who may do what" asks.
	mlflowUser = "alice"
	// mlflowUserTag is the context key of that tag.
	mlflowUserTag = "aws:PrincipalTag/mlflow-user"
)

// runbookDocs are the documents whose aws commands the operator policy covers.
var runbookDocs = []string{"README.md", "docs/operations.md"}

// --- Markdown and shell -----------------------------------------------------------------------

// codeSnippet is one piece of code in a Markdown document: a fenced block or an inline span.
type codeSnippet struct {
	doc, lang, text string
	line            int
	inline          bool
}

var (
	fenceLine  = regexp.MustCompile("^(\\s*)```\\s*([A-Za-z0-9_-]*)\\s*$")
	inlineCode = regexp.MustCompile("`([^`]+)`")
	awsCall    = regexp.MustCompile(`(^|[\s($])aws\s+[a-z0-9]`)
)

// markdownCode returns the fenced code blocks and inline code spans of a Markdown file.
func markdownCode(t *testing.T, path string) []codeSnippet {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []codeSnippet
	var prose []string
	proseStart := 0
	flushProse := func() {
		text := strings.Join(prose, "\n")
		for _, m := range inlineCode.FindAllStringSubmatchIndex(text, -1) {
			line := proseStart + strings.Count(text[:m[0]], "\n")
			out = append(out, codeSnippet{doc: path, text: text[m[2]:m[3]], line: line, inline: true})
		}
		prose = nil
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		m := fenceLine.FindStringSubmatch(lines[i])
		if m == nil {
			if len(prose) == 0 {
				proseStart = i + 1
			}
			prose = append(prose, lines[i])
			continue
		}
		flushProse()
		start := i + 1
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], m[1]))
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: code block is not closed", path, start)
		}
		out = append(out, codeSnippet{doc: path, lang: m[2], text: strings.Join(body, "\n"), line: start + 1})
	}
	flushProse()
	return out
}

// docCommand is one `aws` command found in a document.
type docCommand struct {
	where    string // file:line
	onServer bool   // runs on the tracking server with the instance role
	words    []string
	unknown  map[int]bool // indexes of words holding an expansion not in the variables
	// mention is an inline span naming a command without arguments (`aws s3 sync`): a
	// reference in prose, not a command to run.
	mention bool
}

func (c docCommand) String() string { return c.where + ": " + strings.Join(c.words, " ") }

// key is "service command", or "service wait waiter".
func (c docCommand) key() string {
	if len(c.words) > 3 && c.words[2] == "wait" {
		return c.words[1] + " wait " + c.words[3]
	}
	if len(c.words) > 2 {
		return c.words[1] + " " + c.words[2]
	}
	return strings.Join(c.words[1:], " ")
}

// flag returns the value following --name, and whether the flag is present.
func (c docCommand) flag(name string) (string, int, bool) {
	for i, w := range c.words {
		if w == name {
			if i+1 < len(c.words) && !strings.HasPrefix(c.words[i+1], "--") {
				return c.words[i+1], i + 1, true
			}
			return "", -1, true
		}
	}
	return "", -1, false
}

// shellCommands parses a snippet as bash and returns its aws commands (also those inside
// command substitutions), with the words expanded from vars.
func shellCommands(t *testing.T, s codeSnippet, vars map[string]string) []docCommand {
	t.Helper()
	if s.inline && !awsCall.MatchString(s.text) {
		return nil
	}
	file, err := syntax.NewParser(syntax.KeepComments(true)).Parse(strings.NewReader(s.text), s.doc)
	if err != nil {
		t.Errorf("%s:%d: not valid bash (%v):\n%s", s.doc, s.line, err, s.text)
		return nil
	}
	onServer := !s.inline && strings.HasPrefix(strings.TrimSpace(s.text), serverMarker)
	var out []docCommand
	syntax.Walk(file, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 || call.Args[0].Lit() != "aws" {
			return true
		}
		c := docCommand{where: fmt.Sprintf("%s:%d", s.doc, s.line+int(call.Pos().Line())-1), onServer: onServer, unknown: map[int]bool{}}
		if s.inline {
			c.where = fmt.Sprintf("%s:%d", s.doc, s.line)
		}
		for i, w := range call.Args {
			text, known := expandWord(w, vars)
			c.words = append(c.words, text)
			if !known {
				c.unknown[i] = true
			}
		}
		c.mention = s.inline && len(c.words) <= 3
		out = append(out, c)
		return true
	})
	return out
}

// expandWord returns a word's text with $NAME and ${NAME} taken from vars; known is false
// when it holds another expansion (a command substitution, an unknown variable, ${x%y}).
func expandWord(w *syntax.Word, vars map[string]string) (text string, known bool) {
	var b strings.Builder
	known = true
	var parts func([]syntax.WordPart)
	parts = func(ps []syntax.WordPart) {
		for _, p := range ps {
			switch p := p.(type) {
			case *syntax.Lit:
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				b.WriteString(p.Value)
			case *syntax.DblQuoted:
				parts(p.Parts)
			case *syntax.ParamExp:
				v, ok := vars[p.Param.Value]
				if !ok || p.Exp != nil || p.Slice != nil || p.Repl != nil || p.Length || p.Excl || p.Index != nil {
					known = false
					b.WriteString("${" + p.Param.Value + "}")
					continue
				}
				b.WriteString(v)
			default:
				known = false
				b.WriteString("$(...)")
			}
		}
	}
	parts(w.Parts)
	return b.String(), known
}

// docCommands returns every aws command in the runbook documents.
func docCommands(t *testing.T, vars map[string]string) []docCommand {
	t.Helper()
	var out []docCommand
	for _, doc := range runbookDocs {
		for _, s := range markdownCode(t, doc) {
			switch s.lang {
			case "", "sh", "bash", "shell":
				out = append(out, shellCommands(t, s, vars)...)
			case "mermaid", "json", "yaml":
				// Diagrams and documents, not commands.
			default:
				t.Errorf("%s:%d: code block of language %q: mark shell as sh", s.doc, s.line, s.lang)
			}
		}
	}
	return out
}

// --- IAM policy evaluation --------------------------------------------------------------------

// peoplePolicy is an identity policy as these tests read it; unlike delivery_test.go's
// iamPolicy, condition values may be lists.
type peoplePolicy struct {
	Version   string            `json:"Version"`
	Statement []peopleStatement `json:"Statement"`
}

type peopleStatement struct {
	Sid       string                                `json:"Sid"`
	Effect    string                                `json:"Effect"`
	Action    []string                              `json:"Action"`
	Resource  []string                              `json:"Resource"`
	Condition map[string]map[string]json.RawMessage `json:"Condition"`
}

func loadPeoplePolicy(t *testing.T, path string) peoplePolicy {
	t.Helper()
	var p peoplePolicy
	decodePolicyFile(t, path, &p, func() (string, int) { return p.Version, len(p.Statement) })
	return p
}

// iamRequest is one authorization AWS makes: an action on a resource with context keys.
type iamRequest struct {
	action, resource string
	context          map[string]string
}

func (r iamRequest) String() string { return r.action + " on " + r.resource }

// policyVariable replaces ${aws:userid} and the like with the request's context values.
var policyVariable = regexp.MustCompile(`\$\{([^}]+)\}`)

func substitutePolicyVariables(s string, ctx map[string]string) string {
	return policyVariable.ReplaceAllStringFunc(s, func(v string) string {
		if val, ok := ctx[v[2:len(v)-1]]; ok {
			return val
		}
		return "\x00unset" // matches nothing
	})
}

// conditionHolds evaluates one condition operator block; the operators the people policies
// may use are the ones listed here, anything else fails the test.
func conditionHolds(t *testing.T, op string, keys map[string]json.RawMessage, ctx map[string]string) bool {
	t.Helper()
	base, ifExists := strings.CutSuffix(op, "IfExists")
	for key, raw := range keys {
		var values []string
		if err := json.Unmarshal(raw, &values); err != nil {
			var one string
			if err := json.Unmarshal(raw, &one); err != nil {
				t.Fatalf("condition %s %s: value %s is neither a string nor a list", op, key, raw)
			}
			values = []string{one}
		}
		got, present := ctx[key]
		if !present {
			if ifExists {
				continue
			}
			return false
		}
		matched := false
		for _, v := range values {
			v = substitutePolicyVariables(v, ctx)
			switch base {
			case "StringEquals", "ArnEquals":
				matched = matched || got == v
			case "StringLike", "ArnLike":
				matched = matched || iamGlob(v, got, false)
			case "Bool":
				matched = matched || strings.EqualFold(got, v)
			default:
				t.Fatalf("condition operator %s is not evaluated by this test: add it to conditionHolds", op)
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

// allows evaluates a request: some Allow statement matches it (action, resource and every
// condition) and no Deny statement does.
func (p peoplePolicy) allows(t *testing.T, r iamRequest) bool {
	t.Helper()
	allowed := false
	for _, s := range p.Statement {
		if !slices.ContainsFunc(s.Action, func(a string) bool { return iamGlob(a, r.action, true) }) ||
			!slices.ContainsFunc(s.Resource, func(res string) bool { return iamGlob(substitutePolicyVariables(res, r.context), r.resource, false) }) {
			continue
		}
		holds := true
		for op, keys := range s.Condition {
			holds = holds && conditionHolds(t, op, keys, r.context)
		}
		if !holds {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		allowed = allowed || s.Effect == "Allow"
	}
	return allowed
}

// actions returns every action the policy names.
func (p peoplePolicy) actions() []string {
	var out []string
	for _, s := range p.Statement {
		for _, a := range s.Action {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// --- The stack as the commands see it --------------------------------------------------------

// peopleStack holds the names and ARNs of one stack's resources, from its mocked graph.
type peopleStack struct {
	name, region, projectTag string
	vars                     map[string]string // the documents' shell variables
	dbIdentifier, engine     string
	portForward              string // the portForwardCommand output
	instanceRole             peoplePolicy
}

func loadPeopleStack(t *testing.T, stack string) peopleStack {
	t.Helper()
	cfg := stackConfig(t, stack)
	g := deliveryGraph(t, stack)
	var tags struct {
		Tags map[string]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(cfg["aws:defaultTags"]), &tags); err != nil {
		t.Fatalf("%s: aws:defaultTags: %v", stack, err)
	}
	db := g.one(t, typeDB)
	s := peopleStack{
		name: stack, region: cfg["aws:region"], projectTag: tags.Tags["project"],
		dbIdentifier: db.str("identifier"), engine: db.str("engineVersion"),
		portForward: g.outputs["portForwardCommand"],
	}
	if s.projectTag == "" || s.dbIdentifier == "" || s.engine == "" || s.portForward == "" {
		t.Fatalf("%s: project tag %q, DB identifier %q, engine %q, port forward %q: the graph lacks what the test needs",
			stack, s.projectTag, s.dbIdentifier, s.engine, s.portForward)
	}
	param := g.outputs["dbPasswordParameterName"]
	bucket := g.outputs["artifactBucketName"]
	// The variables docs/operations.md sets (outputs, config, and names derived from them).
	s.vars = map[string]string{
		"STACK":                        stack,
		"REGION":                       s.region,
		"AWS_DEFAULT_REGION":           s.region,
		"INSTANCE_ID":                  g.outputs["instanceId"],
		"BUCKET":                       bucket,
		"PASSWORD_PARAMETER":           param,
		"MLFLOW_DB_PASSWORD_PARAMETER": param,
		"DB_ID":                        s.dbIdentifier,
		"RESTORE_ID":                   s.dbIdentifier + "-restore",
		"SNAPSHOT":                     s.dbIdentifier + "-mlflow-3-5-0-to-3-17-2-20261130120000",
		"BEFORE_RESTORE":               s.dbIdentifier + "-before-restore-202611301000",
		// The front door's group (components.GroupNamePrefix and the suffix Pulumi adds).
		"ASG":               components.GroupNamePrefix("mlflow-"+stack, "3.17.2") + "20261130120000000000000001",
		"SUBNET_GROUP":      g.one(t, typeSubnetGroup).Name + "-a1b2c3d",
		"PARAMETER_GROUP":   g.one(t, typeParamGroup).Name + "-a1b2c3d",
		"DB_SECURITY_GROUP": fakeID("sg-", "backend-store"),
		"RESTORE_TIME":      "2026-11-30T09:45:00Z",
		"CMD_ID":            "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
		"LOG_GROUP":         g.outputs["logGroupName"],
		"PASSWORD_FILE":     "/tmp/tmp.XXXXXXXXXX",
		// The README's example MLflow user (its login lines and the password command).
		"MLFLOW_TRACKING_USERNAME": mlflowUser,
	}
	// The instance role's policy exactly as the stack registers it.
	b := []byte(g.one(t, typeRolePolicy).str("policy"))
	if err := json.Unmarshal(b, &s.instanceRole); err != nil {
		t.Fatalf("instance role policy: %v", err)
	}
	return s
}

func (s peopleStack) instanceArn(id string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", s.region, mockAccount, id)
}

func (s peopleStack) rdsArn(kind, name string) string {
	return fmt.Sprintf("arn:aws:rds:%s:%s:%s:%s", s.region, mockAccount, kind, name)
}

// documentArn is an SSM document's ARN: AWS-owned documents (AWS-*) have no account.
func (s peopleStack) documentArn(name string) string {
	if strings.HasPrefix(name, "AWS-") {
		return fmt.Sprintf("arn:aws:ssm:%s::document/%s", s.region, name)
	}
	return fmt.Sprintf("arn:aws:ssm:%s:%s:document/%s", s.region, mockAccount, name)
}

// instanceContext is what SSM puts in the request context for the stack's instance.
func (s peopleStack) instanceContext(userID, tag string, sessionDocumentCheck bool) map[string]string {
	ctx := map[string]string{"aws:userid": userID, "ssm:resourceTag/project": tag, "aws:ResourceTag/project": tag}
	if sessionDocumentCheck {
		ctx["ssm:SessionDocumentAccessCheck"] = "true"
	}
	return ctx
}

// sessionRequest is an action on a session the caller (owner) started, as userID.
func (s peopleStack) sessionRequest(action, owner, userID string) iamRequest {
	name := owner
	if _, session, ok := strings.Cut(owner, ":"); ok {
		name = session // a role's sessions are named after the role session name
	}
	return iamRequest{action: action,
		resource: fmt.Sprintf("arn:aws:ssm:%s:%s:session/%s-0a1b2c3d4e5f60718", s.region, mockAccount, name),
		context:  map[string]string{"aws:userid": userID, "ssm:resourceTag/aws:ssmmessages:session-id": owner}}
}

// --- Commands to IAM requests -----------------------------------------------------------------

// peopleTarget is the resource an action of a command is authorized on.
type peopleTarget int

const (
	onAny            peopleTarget = iota // "*": the action has no resource-level permission
	onInstance                           // --target, --instance-ids, --instance-id: the tagged tracking server
	onDocument                           // --document-name (start-session without it: SSM-SessionManagerRunShell)
	onOwnSession                         // the session the command starts
	onDB                                 // --db-instance-identifier, --source-/--target-db-instance-identifier
	onNewDB                              // the instance a restore creates: --target-db-instance-identifier, else --db-instance-identifier
	onSnapshot                           // --db-snapshot-identifier
	onSubnetGroup                        // --db-subnet-group-name
	onParameterGroup                     // --db-parameter-group-name
	onOptionGroup                        // the engine's default option group, which a restore gets
	onParameter                          // --name of an SSM parameter
	onBucket                             // the bucket of an s3:// argument
	onObjects                            // an object under the prefix of an s3:// argument
	onLogGroup                           // the log group named by the word after the command (aws logs tail GROUP)
	onGroup                              // --auto-scaling-group-name: the front door's Auto Scaling group
)

// peopleNeed is one IAM action a command needs, and on what.
type peopleNeed struct {
	action string
	on     peopleTarget
}

// peopleCommandActions maps every aws command the documents use to the IAM actions it needs
// (Service Authorization Reference; Session Manager user guide, "Sample IAM policies"). A
// command missing here fails TestOperatorPolicyCoversEveryRunbookCommand; an entry no
// document uses fails it too.
var peopleCommandActions = map[string][]peopleNeed{
	// A session: the instance and the session document, then the client ends, resumes and
	// opens the data channel of the session it started.
	"ssm start-session": {{"ssm:StartSession", onInstance}, {"ssm:StartSession", onDocument},
		{"ssm:TerminateSession", onOwnSession}, {"ssm:ResumeSession", onOwnSession}, {"ssmmessages:OpenDataChannel", onOwnSession}},
	"ssm send-command":                           {{"ssm:SendCommand", onInstance}, {"ssm:SendCommand", onDocument}},
	"ssm wait command-executed":                  {{"ssm:GetCommandInvocation", onAny}},
	"ssm get-command-invocation":                 {{"ssm:GetCommandInvocation", onAny}},
	"ssm get-parameter":                          {{"ssm:GetParameter", onParameter}}, // aws/ssm is an AWS managed key: its key policy admits the account through SSM
	"ssm put-parameter":                          {{"ssm:PutParameter", onParameter}}, // the deployed-release record, after a restore (operations.md)
	"sts get-caller-identity":                    {},                                  // needs no permission
	"rds describe-db-instances":                  {{"rds:DescribeDBInstances", onAny}},
	"rds describe-db-snapshots":                  {{"rds:DescribeDBSnapshots", onAny}},
	"rds describe-db-instance-automated-backups": {{"rds:DescribeDBInstanceAutomatedBackups", onAny}},
	"rds wait db-instance-available":             {{"rds:DescribeDBInstances", onAny}},
	"rds wait db-snapshot-available":             {{"rds:DescribeDBSnapshots", onAny}},
	// The instance has CopyTagsToSnapshot: its tags are added to the snapshot.
	"rds create-db-snapshot": {{"rds:CreateDBSnapshot", onDB}, {"rds:CreateDBSnapshot", onSnapshot}, {"rds:AddTagsToResource", onSnapshot}},
	"rds delete-db-snapshot": {{"rds:DeleteDBSnapshot", onSnapshot}},
	"rds restore-db-instance-from-db-snapshot": {{"rds:RestoreDBInstanceFromDBSnapshot", onDB}, {"rds:RestoreDBInstanceFromDBSnapshot", onSnapshot},
		{"rds:RestoreDBInstanceFromDBSnapshot", onSubnetGroup}, {"rds:RestoreDBInstanceFromDBSnapshot", onParameterGroup},
		{"rds:RestoreDBInstanceFromDBSnapshot", onOptionGroup}, {"rds:AddTagsToResource", onNewDB}},
	"rds restore-db-instance-to-point-in-time": {{"rds:RestoreDBInstanceToPointInTime", onDB},
		{"rds:RestoreDBInstanceToPointInTime", onSubnetGroup}, {"rds:RestoreDBInstanceToPointInTime", onParameterGroup},
		{"rds:RestoreDBInstanceToPointInTime", onOptionGroup}, {"rds:AddTagsToResource", onNewDB}},
	"rds modify-db-instance": {{"rds:ModifyDBInstance", onDB}},
	"rds delete-db-instance": {{"rds:DeleteDBInstance", onDB}},
	"s3 sync":                {{"s3:ListBucket", onBucket}, {"s3:GetObject", onObjects}},
	// The front door's instance refresh, its servers, stopping it for a restore and giving it
	// back its processes, and the AMI to pin (docs/operations.md).
	"autoscaling describe-instance-refreshes":  {{"autoscaling:DescribeInstanceRefreshes", onAny}},
	"autoscaling describe-auto-scaling-groups": {{"autoscaling:DescribeAutoScalingGroups", onAny}},
	"autoscaling update-auto-scaling-group":    {{"autoscaling:UpdateAutoScalingGroup", onGroup}},
	"autoscaling suspend-processes":            {{"autoscaling:SuspendProcesses", onGroup}},
	"autoscaling resume-processes":             {{"autoscaling:ResumeProcesses", onGroup}},
	"ec2 describe-images":                      {{"ec2:DescribeImages", onAny}},
	// The CLI's logs tail (also with --follow) reads with FilterLogEvents.
	"logs tail":                  {{"logs:FilterLogEvents", onLogGroup}},
	"cloudwatch describe-alarms": {{"cloudwatch:DescribeAlarms", onAny}},
}

// requests returns the IAM requests a command makes as userID, or an error naming what
// the command lacks to tell.
func (s peopleStack) requests(c docCommand, userID string) ([]iamRequest, error) {
	needs, ok := peopleCommandActions[c.key()]
	if !ok {
		return nil, fmt.Errorf("%q is not in peopleCommandActions: add the IAM actions it needs", c.key())
	}
	base := map[string]string{"aws:userid": userID, mlflowUserTag: mlflowUser}
	// value returns the resolved values of flags; a flag whose value holds an unknown
	// expansion is an error (the test cannot tell which resource it names).
	value := func(flags ...string) ([]string, error) {
		var out []string
		for _, f := range flags {
			v, i, present := c.flag(f)
			if !present {
				continue
			}
			if i < 0 || c.unknown[i] {
				return nil, fmt.Errorf("the value of %s is not one of the documents' known variables", f)
			}
			out = append(out, v)
		}
		return out, nil
	}
	var out []iamRequest
	for _, n := range needs {
		var resources []string
		ctx := base
		var err error
		var names []string
		switch n.on {
		case onAny:
			resources = []string{"*"}
		case onInstance:
			if names, err = value("--target", "--instance-ids", "--instance-id"); err == nil {
				for _, id := range names {
					resources = append(resources, s.instanceArn(id))
				}
				ctx = s.instanceContext(userID, s.projectTag, n.action == "ssm:StartSession")
			}
		case onDocument:
			if names, err = value("--document-name"); err == nil {
				if len(names) == 0 && c.key() == "ssm start-session" {
					names = []string{"SSM-SessionManagerRunShell"} // the default shell session document
				}
				for _, d := range names {
					resources = append(resources, s.documentArn(d))
				}
			}
		case onOwnSession:
			out = append(out, s.sessionRequest(n.action, userID, userID))
			continue
		case onDB:
			if names, err = value("--db-instance-identifier", "--source-db-instance-identifier", "--target-db-instance-identifier"); err == nil {
				for _, id := range names {
					resources = append(resources, s.rdsArn("db", id))
				}
			}
		case onNewDB:
			flag := "--db-instance-identifier"
			if _, _, ok := c.flag("--target-db-instance-identifier"); ok {
				flag = "--target-db-instance-identifier"
			}
			if names, err = value(flag); err == nil {
				for _, id := range names {
					resources = append(resources, s.rdsArn("db", id))
				}
			}
		case onSnapshot:
			if names, err = value("--db-snapshot-identifier"); err == nil {
				for _, id := range names {
					resources = append(resources, s.rdsArn("snapshot", id))
				}
			}
		case onSubnetGroup:
			if names, err = value("--db-subnet-group-name"); err == nil {
				for _, id := range names {
					resources = append(resources, s.rdsArn("subgrp", id))
				}
			}
		case onParameterGroup:
			if names, err = value("--db-parameter-group-name"); err == nil {
				for _, id := range names {
					resources = append(resources, s.rdsArn("pg", id))
				}
			}
		case onLogGroup:
			if len(c.words) < 4 || strings.HasPrefix(c.words[3], "--") || c.unknown[3] {
				err = fmt.Errorf("the log group (the word after %q) is not one of the documents' known variables", c.key())
			} else {
				resources = []string{fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.region, mockAccount, c.words[3])}
			}
		case onGroup:
			if names, err = value("--auto-scaling-group-name"); err == nil {
				for _, g := range names {
					resources = append(resources, fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d:autoScalingGroupName/%s", s.region, mockAccount, g))
				}
			}
		case onOptionGroup:
			resources = []string{s.rdsArn("og", "default:postgres-"+s.engine)}
		case onParameter:
			if names, err = value("--name"); err == nil {
				for _, p := range names {
					resources = append(resources, fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.region, mockAccount, strings.TrimPrefix(p, "/")))
				}
			}
		case onBucket, onObjects:
			for i, w := range c.words {
				path, isS3 := strings.CutPrefix(w, "s3://")
				if !isS3 {
					continue
				}
				if c.unknown[i] {
					return nil, fmt.Errorf("the S3 URI %s is not made of the documents' known variables", w)
				}
				bucket, prefix, _ := strings.Cut(path, "/")
				if n.on == onBucket {
					resources = append(resources, "arn:aws:s3:::"+bucket)
				} else {
					resources = append(resources, "arn:aws:s3:::"+bucket+"/"+strings.Trim(prefix, "/")+"/run/model.pkl")
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if len(resources) == 0 {
			return nil, fmt.Errorf("%s: the command names no resource for it", n.action)
		}
		for _, r := range resources {
			out = append(out, iamRequest{action: n.action, resource: r, context: ctx})
		}
	}
	return out, nil
}

// --- Tests ------------------------------------------------------------------------------------

var peopleStacks = []string{"dev", "prod"}

// TestOperatorPolicyCoversEveryRunbookCommand: every aws command in README.md and
// docs/operations.md is mapped, and the operator policy (or, for the commands marked as
// running on the tracking server, the instance role) allows all it needs on the stack's real
// resources, as an IAM user and as an Identity Center role session.
func TestOperatorPolicyCoversEveryRunbookCommand(t *testing.T) {
	policy := loadPeoplePolicy(t, operatorPolicyPath)
	for _, stack := range peopleStacks {
		s := loadPeopleStack(t, stack)
		cmds := docCommands(t, s.vars)
		used := map[string]bool{}
		for _, c := range cmds {
			if c.mention {
				continue // `aws s3 sync` in prose names a command, it does not run one
			}
			used[c.key()] = true
			for _, uid := range []string{roleUserID, iamUserID} {
				reqs, err := s.requests(c, uid)
				if err != nil {
					t.Errorf("%s: %s", c, err)
					break
				}
				who, p := operatorPolicyPath, policy
				if c.onServer {
					who, p = "the tracking server's instance role", s.instanceRole
				}
				for _, r := range reqs {
					if !p.allows(t, r) {
						t.Errorf("%s (%s, as %s): %s does not allow %s", stack, c, uid, who, r)
					}
				}
			}
		}
		// The test must see the runbooks, and the table must not outlive them.
		for _, k := range []string{"ssm start-session", "ssm send-command", "ssm get-command-invocation", "rds create-db-snapshot",
			"rds restore-db-instance-from-db-snapshot", "rds restore-db-instance-to-point-in-time", "s3 sync", "rds delete-db-snapshot"} {
			if !used[k] {
				t.Errorf("no document uses aws %s: the extraction is broken or the runbook lost it", k)
			}
		}
		for k := range peopleCommandActions {
			if !used[k] {
				t.Errorf("peopleCommandActions maps %q, which no document uses: drop it", k)
			}
		}
		if len(cmds) < 25 {
			t.Errorf("%s: only %d aws commands found in %v", stack, len(cmds), runbookDocs)
		}
	}
}

// TestOperatorPolicyIsLeastPrivilege: the operator policy grants only actions some runbook
// command needs, on the project's names, and not what the runbooks never do.
func TestOperatorPolicyIsLeastPrivilege(t *testing.T) {
	policy := loadPeoplePolicy(t, operatorPolicyPath)
	checkPeoplePolicyShape(t, operatorPolicyPath, policy)
	var needed []string
	for _, needs := range peopleCommandActions {
		for _, n := range needs {
			needed = append(needed, n.action)
		}
	}
	for _, a := range policy.actions() {
		if !slices.Contains(needed, a) {
			t.Errorf("%s grants %s, which no runbook command needs", operatorPolicyPath, a)
		}
	}
	s := loadPeopleStack(t, "prod")
	uid := roleUserID
	plain := map[string]string{"aws:userid": uid}
	inst := s.instanceArn(s.vars["INSTANCE_ID"])
	allowed := []iamRequest{
		{"rds:DeleteDBInstance", s.rdsArn("db", s.dbIdentifier+"-restore"), plain},
	}
	for _, r := range allowed {
		if !policy.allows(t, r) {
			t.Errorf("%s does not allow %s", operatorPolicyPath, r)
		}
	}
	denied := []iamRequest{
		{"rds:DeleteDBInstance", s.rdsArn("db", s.dbIdentifier), plain}, // the backend store itself
		{"rds:DeleteDBInstance", s.rdsArn("db", "billing-prod"), plain},
		{"rds:ModifyDBInstance", s.rdsArn("db", "billing-prod"), plain},
		{"rds:RestoreDBInstanceFromDBSnapshot", s.rdsArn("db", "billing-prod"), plain},
		{"rds:CreateDBSnapshot", s.rdsArn("db", "billing-prod"), plain},
		{"rds:DeleteDBSnapshot", s.rdsArn("snapshot", "billing-prod-final"), plain},
		{"ssm:PutParameter", "arn:aws:ssm:us-east-1:123456789012:parameter" + s.vars["PASSWORD_PARAMETER"], plain},
		{"ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/other-app/db-password", plain},
		{"ssm:SendCommand", inst, s.instanceContext(uid, "other-project", false)},
		{"ssm:StartSession", inst, s.instanceContext(uid, "other-project", true)},
		{"ssm:SendCommand", s.documentArn("AWS-RunPowerShellScript"), plain},
		{"ssm:StartSession", s.documentArn("AWS-StartPortForwardingSessionToRemoteHost"), plain},
		{"s3:GetObject", "arn:aws:s3:::company-data-lake/key", plain},
		{"s3:PutObject", "arn:aws:s3:::" + s.vars["BUCKET"] + "/artifacts/x", plain},
		{"s3:DeleteObject", "arn:aws:s3:::" + s.vars["BUCKET"] + "/artifacts/x", plain},
		{"ec2:TerminateInstances", inst, s.instanceContext(uid, s.projectTag, false)},
		s.sessionRequest("ssm:TerminateSession", "AROAEXAMPLEROLEID0001:bob", uid),
	}
	for _, r := range denied {
		if policy.allows(t, r) {
			t.Errorf("%s allows %s, which no runbook needs", operatorPolicyPath, r)
		}
	}
}

// TestUserPolicyCoversThePortForward: with docs/user-policy.json, a person (tagged mlflow-user)
// can run the stack's portForwardCommand output (as README says) and the aws commands of
// README's "Reaching the server" and "Who may do what" (reading their own MLflow password), as
// an IAM user and as an Identity Center role session.
func TestUserPolicyCoversThePortForward(t *testing.T) {
	policy := loadPeoplePolicy(t, userPolicyPath)
	for _, stack := range peopleStacks {
		s := loadPeopleStack(t, stack)
		cmds := shellCommands(t, codeSnippet{doc: "portForwardCommand output (" + stack + ")", text: s.portForward, line: 1}, s.vars)
		if len(cmds) != 1 || cmds[0].key() != "ssm start-session" {
			t.Fatalf("%s: portForwardCommand %q is not one aws ssm start-session", stack, s.portForward)
		}
		if doc, _, _ := cmds[0].flag("--document-name"); doc != "AWS-StartPortForwardingSession" {
			t.Errorf("%s: portForwardCommand uses document %q", stack, doc)
		}
		for _, heading := range []string{"## Reaching the server", "## Who may do what"} {
			for _, sn := range readmeSection(t, heading) {
				cmds = append(cmds, shellCommands(t, sn, s.vars)...)
			}
		}
		passwordReads := 0
		for _, c := range cmds {
			for _, uid := range []string{roleUserID, iamUserID} {
				reqs, err := s.requests(c, uid)
				if err != nil {
					t.Fatalf("%s: %v", c, err)
				}
				for _, r := range reqs {
					if !policy.allows(t, r) {
						t.Errorf("%s (%s, as %s): %s does not allow %s", stack, c, uid, userPolicyPath, r)
					}
					if r.action == "ssm:GetParameter" && strings.HasSuffix(r.resource, "/auth/users/"+mlflowUser) {
						passwordReads++
					}
				}
			}
		}
		if passwordReads == 0 {
			t.Errorf("%s: README's sections give no command reading the user's own password", stack)
		}
	}
}

// TestUserPolicyIsThePortForwardAndOwnPassword: the user policy grants port-forward sessions
// to the project's tagged instances, the caller's own sessions and the caller's own MLflow
// password (the parameter named by their mlflow-user tag), nothing else: no shell, no
// forwarding to other hosts (the database), no Run Command, no other parameter (another
// user's, the admin's, the secret key, the DB password; none without the tag), no data.
func TestUserPolicyIsThePortForwardAndOwnPassword(t *testing.T) {
	policy := loadPeoplePolicy(t, userPolicyPath)
	checkPeoplePolicyShape(t, userPolicyPath, policy)
	want := []string{"ssm:StartSession", "ssm:TerminateSession", "ssm:ResumeSession", "ssmmessages:OpenDataChannel", "ssm:GetParameter"}
	for _, a := range policy.actions() {
		if !slices.Contains(want, a) {
			t.Errorf("%s grants %s; a user needs only %v", userPolicyPath, a, want)
		}
	}
	s := loadPeopleStack(t, "prod")
	uid := roleUserID
	plain := map[string]string{"aws:userid": uid}
	tagged := map[string]string{"aws:userid": uid, mlflowUserTag: mlflowUser}
	inst := s.instanceArn(s.vars["INSTANCE_ID"])
	param := func(name string) string { return "arn:aws:ssm:us-east-1:123456789012:parameter" + name }
	own := param("/mlflow-aws/prod/auth/users/" + mlflowUser)
	for _, ctx := range []map[string]string{tagged, {"aws:userid": iamUserID, mlflowUserTag: mlflowUser}} {
		if !policy.allows(t, iamRequest{"ssm:GetParameter", own, ctx}) {
			t.Errorf("%s does not let %s read their own password %s", userPolicyPath, ctx["aws:userid"], own)
		}
	}
	denied := []iamRequest{
		{"ssm:GetParameter", own, plain}, // no mlflow-user tag: no password
		{"ssm:GetParameter", param("/mlflow-aws/prod/auth/users/bob"), tagged},
		{"ssm:GetParameter", param("/mlflow-aws/prod/auth/users/" + mlflowUser + "x"), tagged},
		{"ssm:GetParameter", param("/mlflow-aws/prod/auth/admin-password"), tagged},
		{"ssm:GetParameter", param("/mlflow-aws/prod/flask-secret-key"), tagged},
		{"ssm:GetParameter", param(s.vars["PASSWORD_PARAMETER"]), tagged},
		{"ssm:GetParameter", param("/other-app/auth/users/" + mlflowUser), tagged},
		{"ssm:GetParametersByPath", param("/mlflow-aws/prod/auth"), tagged},
		{"ssm:GetParameters", own, tagged},
		{"ssm:StartSession", s.documentArn("SSM-SessionManagerRunShell"), plain}, // a shell
		{"ssm:StartSession", s.documentArn("AWS-StartSSHSession"), plain},
		{"ssm:StartSession", s.documentArn("AWS-StartPortForwardingSessionToRemoteHost"), plain}, // e.g. to RDS
		{"ssm:StartSession", s.documentArn("AWS-StartInteractiveCommand"), plain},
		{"ssm:StartSession", inst, s.instanceContext(uid, "other-project", true)},
		{"ssm:SendCommand", inst, s.instanceContext(uid, s.projectTag, false)},
		{"ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter" + s.vars["PASSWORD_PARAMETER"], plain},
		{"s3:GetObject", "arn:aws:s3:::" + s.vars["BUCKET"] + "/artifacts/x", plain},
		{"rds:DescribeDBInstances", "*", plain},
		s.sessionRequest("ssm:TerminateSession", "AROAEXAMPLEROLEID0001:bob", uid),
		s.sessionRequest("ssm:ResumeSession", "AIDAEXAMPLEUSERID0002", iamUserID),
	}
	for _, r := range denied {
		if policy.allows(t, r) {
			t.Errorf("%s allows %s", userPolicyPath, r)
		}
	}
}

// checkPeoplePolicyShape: Allow statements with actions and resources, no service-wide or
// "*" action, and every statement that lets a session start on an instance scoped by the
// project tag and enforcing the session document check (without it, StartSession on the
// instance alone opens a shell: Session Manager user guide, "Enforce a session document
// permission check").
func checkPeoplePolicyShape(t *testing.T, path string, p peoplePolicy) {
	t.Helper()
	serviceWide := regexp.MustCompile(`^[a-z0-9-]+:\*$`)
	for _, s := range p.Statement {
		if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
			t.Errorf("%s statement %q: want Effect Allow with Action and Resource", path, s.Sid)
		}
		for _, a := range s.Action {
			if a == "*" || serviceWide.MatchString(a) || strings.Contains(a, "*") {
				t.Errorf("%s statement %q: action %q is a wildcard", path, s.Sid, a)
			}
		}
		touchesInstances := slices.ContainsFunc(s.Resource, func(r string) bool { return strings.Contains(r, ":instance/") || r == "*" })
		for _, a := range []string{"ssm:StartSession", "ssm:SendCommand"} {
			if !slices.Contains(s.Action, a) || !touchesInstances {
				continue
			}
			if tag := s.Condition["StringEquals"]["ssm:resourceTag/project"]; string(tag) != `"mlflow-aws"` {
				t.Errorf("%s statement %q: %s on instances without StringEquals ssm:resourceTag/project = mlflow-aws", path, s.Sid, a)
			}
			if a == "ssm:StartSession" && string(s.Condition["BoolIfExists"]["ssm:SessionDocumentAccessCheck"]) != `"true"` {
				t.Errorf("%s statement %q: ssm:StartSession on instances without BoolIfExists ssm:SessionDocumentAccessCheck = true", path, s.Sid)
			}
		}
	}
}

// readmeSection returns the code of one README section (from its heading to the next).
func readmeSection(t *testing.T, heading string) []codeSnippet {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("README.md has no section %q", heading)
	}
	startLine := strings.Count(text[:start], "\n") + 2
	var out []codeSnippet
	for _, s := range markdownCode(t, "README.md") {
		if s.line >= startLine {
			out = append(out, s)
		}
	}
	end := strings.Index(text[start+1:], "\n## ")
	if end >= 0 {
		endLine := strings.Count(text[:start+1+end], "\n") + 1
		out = slices.DeleteFunc(out, func(s codeSnippet) bool { return s.line > endLine })
	}
	return out
}

// TestReadmeAndOperationsCommandsNameTheRegion: every aws command in README.md and
// docs/operations.md passes --region (a profile's or the environment's default region is not
// necessarily the stack's).
func TestReadmeAndOperationsCommandsNameTheRegion(t *testing.T) {
	s := loadPeopleStack(t, "dev")
	cmds := docCommands(t, s.vars)
	if len(cmds) < 25 {
		t.Fatalf("only %d aws commands found", len(cmds))
	}
	for _, c := range cmds {
		if v, _, ok := c.flag("--region"); (!ok || v == "") && !c.mention {
			t.Errorf("%s: no --region", c)
		}
	}
}

// TestReadmeAndOperationsHaveNoTruncatedCommand: no code in README.md or docs/operations.md
// is cut short with "…": a reader copies commands whole.
func TestReadmeAndOperationsHaveNoTruncatedCommand(t *testing.T) {
	n := 0
	for _, doc := range runbookDocs {
		for _, s := range markdownCode(t, doc) {
			n++
			if strings.Contains(s.text, "…") {
				t.Errorf("%s:%d: truncated code %q", s.doc, s.line, s.text)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d code snippets found", n)
	}
}
