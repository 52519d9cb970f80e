package components

import (
	"fmt"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// registerOutputs ends a component's constructor: it registers as the component's outputs every
// field of *component tagged `pulumi:"name"`, so each output is declared once, on the struct
// (the way pulumi-go-provider's infer components declare theirs).
func registerOutputs(ctx *pulumi.Context, component pulumi.ComponentResource) error {
	return ctx.RegisterResourceOutputs(component, outputsOf(component))
}

// outputsOf returns the tagged output fields of a component struct pointer by their tag names.
func outputsOf(component any) pulumi.Map {
	v := reflect.ValueOf(component).Elem()
	out := pulumi.Map{}
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("pulumi")
		if name == "" {
			continue
		}
		in, ok := v.Field(i).Interface().(pulumi.Input)
		if !ok {
			panic(fmt.Sprintf("%s.%s is tagged as an output but is not a pulumi.Input", v.Type().Name(), v.Type().Field(i).Name))
		}
		out[name] = in
	}
	return out
}
