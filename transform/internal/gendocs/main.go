// Command gendocs writes docs/transforms.md: a hand-written introduction
// (header.md) followed by the format table, the conversion chains and the
// reference of every built-in step, generated from the specs so that the
// reference cannot drift from the code. Run it with go generate ./transform.
package main

import (
	"bytes"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rosettamq/rosetta/transform"
	"gopkg.in/yaml.v3"
)

//go:embed header.md
var header string

func main() {
	out := flag.String("out", "", "file to write")
	flag.Parse()
	if *out == "" {
		log.Fatal("gendocs: -out is required")
	}
	b, err := Generate(transform.Builtins())
	if err != nil {
		log.Fatalf("gendocs: %v", err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatalf("gendocs: %v", err)
	}
}

// Generate renders the document for the steps of r.
func Generate(r *transform.Registry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("\n| Name | Content type | Also recognised | Produced |\n|---|---|---|---|\n")
	for _, f := range transform.Formats() {
		also := make([]string, 0, len(f.Aliases)+1)
		for _, a := range f.Aliases {
			also = append(also, "`"+a+"`")
		}
		if f.Suffix != "" {
			also = append(also, "`*/*"+f.Suffix+"`")
		}
		produced := "yes"
		if f.InputOnly {
			produced = "no (input only)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", f.Name, f.ContentType, strings.Join(also, ", "), produced)
	}

	e, err := transform.NewEngine(transform.EngineConfig{Registry: r})
	if err != nil {
		return nil, err
	}
	b.WriteString("\nConversion chains the engine uses:\n\n| From | To | Steps |\n|---|---|---|\n")
	for _, c := range e.Conversions() {
		fmt.Fprintf(&b, "| %s | %s | `%s` |\n", c.From, c.To, strings.Join(c.Steps, "` → `"))
	}

	b.WriteString("\n## Built-in steps\n")
	for _, s := range r.Specs() {
		if err := writeSpec(&b, s); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	return b.Bytes(), nil
}

func writeSpec(b *bytes.Buffer, s transform.Spec) error {
	fmt.Fprintf(b, "\n### %s\n\n%s\n\n", s.Name, s.Summary)
	in := "any content type"
	if len(s.Input) > 0 {
		in = "`" + strings.Join(s.Input, "`, `") + "`"
	}
	out := "the input's content type, or what the options say"
	if s.Output != "" {
		out = "`" + s.Output + "`"
	}
	fmt.Fprintf(b, "Reads: %s. Writes: %s.\n", in, out)
	if len(s.Options) > 0 {
		b.WriteString("\n| Option | Type | Default | Description |\n|---|---|---|---|\n")
		for _, o := range s.Options {
			def := "—"
			switch {
			case o.Required:
				def = "required"
			case o.Default != nil:
				def = fmt.Sprintf("`%v`", o.Default)
				if str, ok := o.Default.(string); ok {
					def = fmt.Sprintf("`%q`", str)
				}
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", o.Name, o.Type, def, strings.ReplaceAll(o.Description, "|", `\|`))
		}
		if s.Shorthand != "" {
			fmt.Fprintf(b, "\nShorthand: a bare value sets `%s`.\n", s.Shorthand)
		}
	}
	for i, ex := range s.Examples {
		title := ex.Title
		if title == "" {
			title = "Example"
			if len(s.Examples) > 1 {
				title = fmt.Sprintf("Example %d", i+1)
			}
		}
		var cfg bytes.Buffer
		enc := yaml.NewEncoder(&cfg)
		enc.SetIndent(2)
		if err := enc.Encode(node([]any{ex.Config})); err != nil {
			return err
		}
		fmt.Fprintf(b, "\n%s:\n\n```yaml\n%s```\n\n", title, cfg.String())
		fmt.Fprintf(b, "Input (`%s`): %s\n\n", ex.InputType, body(ex.Input))
		fmt.Fprintf(b, "Output (`%s`): %s\n", ex.OutputType, body(ex.Output))
	}
	return nil
}

// node turns a config value into YAML with map keys sorted, except that
// "when" comes first, as people write {when: ..., do: ...}.
func node(v any) *yaml.Node {
	switch x := v.(type) {
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range x {
			n.Content = append(n.Content, node(e))
		}
		return n
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			switch {
			case a == b:
				return 0
			case a == "when":
				return -1
			case b == "when":
				return 1
			}
			return strings.Compare(a, b)
		})
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range keys {
			n.Content = append(n.Content, node(k), node(x[k]))
		}
		return n
	}
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v)}
	}
	return n
}

// body renders a payload: text in backticks, anything else as hex.
func body(s string) string {
	printable := utf8.ValidString(s)
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' || r == '`' {
			printable = false
		}
	}
	if printable && s != "" {
		return "`" + s + "`"
	}
	var h strings.Builder
	for i := 0; i < len(s); i++ {
		if i > 0 {
			h.WriteByte(' ')
		}
		fmt.Fprintf(&h, "%02x", s[i])
	}
	return "`" + h.String() + "` (hex)"
}
