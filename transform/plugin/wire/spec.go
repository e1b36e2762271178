package wire

import "github.com/rosettamq/rosetta/transform/plugin/pluginpb"

// Spec is what a plugin says about itself (the Describe RPC): the host
// shows it in the admin API and the config reference is generated from it.
type Spec struct {
	Name        string // lowercase, no spaces: "protojson"
	Version     string // the plugin's own version
	Description string // one sentence
	Options     []Option
	// InputContentTypes are the content types the plugin reads; empty
	// means any. A trailing "/*" matches a whole type ("application/*").
	InputContentTypes []string
	// OutputContentTypes are the content types it produces; empty means it
	// keeps the input's.
	OutputContentTypes []string
	Examples           []Example
}

// Option describes one step option: a member of the options JSON object.
type Option struct {
	Name        string
	Type        string // JSON type: "string", "number", "integer", "boolean", "object", "array"
	Description string
	Required    bool
	Default     string // JSON text; "" means no default
}

// Example is an option set that makes a working step.
type Example struct {
	Title   string
	Options string // a JSON object
}

// SpecToProto converts s for the Describe response.
func SpecToProto(s Spec) *pluginpb.DescribeResponse {
	r := &pluginpb.DescribeResponse{
		Name:               s.Name,
		Version:            s.Version,
		Description:        s.Description,
		InputContentTypes:  s.InputContentTypes,
		OutputContentTypes: s.OutputContentTypes,
	}
	for _, o := range s.Options {
		r.Options = append(r.Options, &pluginpb.OptionSpec{
			Name: o.Name, Type: o.Type, Description: o.Description, Required: o.Required, DefaultJson: o.Default,
		})
	}
	for _, e := range s.Examples {
		r.Examples = append(r.Examples, &pluginpb.Example{Title: e.Title, OptionsJson: e.Options})
	}
	return r
}

// SpecFromProto converts a Describe response.
func SpecFromProto(r *pluginpb.DescribeResponse) Spec {
	s := Spec{
		Name:               r.GetName(),
		Version:            r.GetVersion(),
		Description:        r.GetDescription(),
		InputContentTypes:  r.GetInputContentTypes(),
		OutputContentTypes: r.GetOutputContentTypes(),
	}
	for _, o := range r.GetOptions() {
		s.Options = append(s.Options, Option{
			Name: o.GetName(), Type: o.GetType(), Description: o.GetDescription(), Required: o.GetRequired(), Default: o.GetDefaultJson(),
		})
	}
	for _, e := range r.GetExamples() {
		s.Examples = append(s.Examples, Example{Title: e.GetTitle(), Options: e.GetOptionsJson()})
	}
	return s
}
