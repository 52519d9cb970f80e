package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// typeLaunchTemplate is the launch template of a front door with an Auto Scaling group.
const typeLaunchTemplate = "aws:ec2/launchTemplate:LaunchTemplate"

// spoolVolumeProblem is the policy rule "EBS data volume for the artifact spool, encrypted" (the
// peer policy pack flags a server without an EBS data volume; issue 13, C8): every EBS volume an
// instance or launch template adds is encrypted, and the one whose user data mounts the spool
// (userdata.SpoolDropInPath in its document) carries it: an encrypted gp3 volume of
// artifactSpoolGb GiB at userdata.SpoolDeviceName, deleted on termination; a volume at that name
// the user data never mounts is a mistake too. It returns "" when the graph passes.
func spoolVolumeProblem(g *graph, cfg map[string]string) string {
	want, _ := strconv.Atoi(cfg["mlflow-aws:artifactSpoolGb"])
	check := func(what string, devices []resource.PropertyValue, doc string, ebs func(resource.PropertyMap) resource.PropertyMap, yes func(resource.PropertyValue) bool) string {
		spool := false
		for _, d := range devices {
			m := d.ObjectValue()
			e := ebs(m)
			if !yes(e["encrypted"]) {
				return fmt.Sprintf("%s: EBS volume %v is not encrypted", what, m["deviceName"])
			}
			if m["deviceName"].IsString() && m["deviceName"].StringValue() == userdata.SpoolDeviceName {
				spool = true
				if !e["volumeType"].IsString() || e["volumeType"].StringValue() != "gp3" || !e["volumeSize"].IsNumber() ||
					e["volumeSize"].NumberValue() != float64(want) || !yes(e["deleteOnTermination"]) {
					return fmt.Sprintf("%s: spool volume %v, want gp3 of %d GiB deleted on termination", what, e, want)
				}
			}
		}
		if mounts := strings.Contains(doc, userdata.SpoolDropInPath); mounts != spool {
			return fmt.Sprintf("%s: the user data mounts a spool volume: %v; a volume at %s: %v", what, mounts, userdata.SpoolDeviceName, spool)
		}
		return ""
	}
	for _, r := range g.byType(typeInstance) {
		devices := r.input("ebsBlockDevices")
		var list []resource.PropertyValue
		if devices.IsArray() {
			list = devices.ArrayValue()
		}
		same := func(m resource.PropertyMap) resource.PropertyMap { return m }
		isTrue := func(v resource.PropertyValue) bool { return v.IsBool() && v.BoolValue() }
		if s := check("instance "+r.Name, list, r.userData(), same, isTrue); s != "" {
			return s
		}
	}
	for _, r := range g.byType(typeLaunchTemplate) {
		mappings := r.input("blockDeviceMappings")
		var list []resource.PropertyValue
		if mappings.IsArray() {
			list = mappings.ArrayValue()
		}
		doc, _ := userdata.DecodeFromEC2(r.str("userData"))
		nested := func(m resource.PropertyMap) resource.PropertyMap {
			if m["ebs"].IsObject() {
				return m["ebs"].ObjectValue()
			}
			return resource.PropertyMap{}
		}
		isTrue := func(v resource.PropertyValue) bool { return v.IsString() && v.StringValue() == "true" }
		if s := check("launch template "+r.Name, list, doc, nested, isTrue); s != "" {
			return s
		}
	}
	return ""
}
