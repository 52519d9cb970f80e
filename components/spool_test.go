package components

import (
	"sync"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// recordingMocks records the inputs of every registered resource by logical name.
type recordingMocks struct {
	mu     sync.Mutex
	inputs map[string]resource.PropertyMap
}

func (m *recordingMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inputs[args.Name] = args.Inputs
	return args.Name + "-id", args.Inputs, nil
}

func (m *recordingMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// TestSpoolBlockDevices registers an instance and a launch template with the spool helpers under
// mocks and reads back what the provider would get: one encrypted gp3 volume of the given size
// at userdata.SpoolDeviceName (where the bootstrap looks), deleted on termination; none for 0.
func TestSpoolBlockDevices(t *testing.T) {
	for _, size := range []int{0, 20} {
		m := &recordingMocks{inputs: map[string]resource.PropertyMap{}}
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			if _, err := ec2.NewInstance(ctx, "server", &ec2.InstanceArgs{Ami: pulumi.String("ami-0123456789abcdef0"),
				InstanceType: pulumi.String("t3.micro"), EbsBlockDevices: SpoolEbsBlockDevices(size)}); err != nil {
				return err
			}
			_, err := ec2.NewLaunchTemplate(ctx, "template", &ec2.LaunchTemplateArgs{BlockDeviceMappings: SpoolLaunchTemplateBlockDeviceMappings(size)})
			return err
		}, pulumi.WithMocks("mlflow-aws", "dev", m))
		if err != nil {
			t.Fatal(err)
		}
		devices := m.inputs["server"]["ebsBlockDevices"]
		mappings := m.inputs["template"]["blockDeviceMappings"]
		if size == 0 {
			if devices.IsArray() && len(devices.ArrayValue()) > 0 || mappings.IsArray() && len(mappings.ArrayValue()) > 0 {
				t.Errorf("size 0: instance devices %v, template mappings %v; want none", devices, mappings)
			}
			continue
		}
		if !devices.IsArray() || len(devices.ArrayValue()) != 1 || !mappings.IsArray() || len(mappings.ArrayValue()) != 1 {
			t.Fatalf("size %d: instance devices %v, template mappings %v; want one each", size, devices, mappings)
		}
		d := devices.ArrayValue()[0].ObjectValue()
		if d["deviceName"].StringValue() != userdata.SpoolDeviceName || d["volumeType"].StringValue() != "gp3" ||
			d["volumeSize"].NumberValue() != float64(size) || !d["encrypted"].BoolValue() || !d["deleteOnTermination"].BoolValue() {
			t.Errorf("instance spool device %v", d)
		}
		mp := mappings.ArrayValue()[0].ObjectValue()
		ebs := mp["ebs"].ObjectValue()
		if mp["deviceName"].StringValue() != userdata.SpoolDeviceName || ebs["volumeType"].StringValue() != "gp3" ||
			ebs["volumeSize"].NumberValue() != float64(size) || ebs["encrypted"].StringValue() != "true" || ebs["deleteOnTermination"].StringValue() != "true" {
			t.Errorf("launch template spool mapping %v", mp)
		}
	}
}
