package main

import (
	"encoding/xml"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// XML model of the definitions (§1.3 Type Notation).

type xmlAMQP struct {
	Name     string       `xml:"name,attr"`
	Sections []xmlSection `xml:"section"`
}

type xmlSection struct {
	Name        string          `xml:"name,attr"`
	Types       []*xmlType      `xml:"type"`
	Definitions []xmlDefinition `xml:"definition"`
}

type xmlType struct {
	Name       string         `xml:"name,attr"`
	Class      string         `xml:"class,attr"`
	Source     string         `xml:"source,attr"`
	Provides   string         `xml:"provides,attr"`
	Descriptor *xmlDescriptor `xml:"descriptor"`
	Fields     []*xmlField    `xml:"field"`
	Choices    []xmlChoice    `xml:"choice"`

	file, section string
	emit          bool
}

type xmlDescriptor struct {
	Name string `xml:"name,attr"`
	Code string `xml:"code,attr"`
}

type xmlField struct {
	Name      string `xml:"name,attr"`
	Type      string `xml:"type,attr"`
	Requires  string `xml:"requires,attr"`
	Default   string `xml:"default,attr"`
	Mandatory bool   `xml:"mandatory,attr"`
	Multiple  bool   `xml:"multiple,attr"`
}

type xmlChoice struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type xmlDefinition struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// specSection maps type names to their section in OASIS AMQP 1.0.
var specSection = map[string]string{
	"open": "2.7.1", "begin": "2.7.2", "attach": "2.7.3", "flow": "2.7.4", "transfer": "2.7.5",
	"disposition": "2.7.6", "detach": "2.7.7", "end": "2.7.8", "close": "2.7.9",
	"role": "2.8.1", "sender-settle-mode": "2.8.2", "receiver-settle-mode": "2.8.3", "handle": "2.8.4",
	"seconds": "2.8.5", "milliseconds": "2.8.6", "delivery-tag": "2.8.7", "delivery-number": "2.8.8",
	"transfer-number": "2.8.9", "sequence-no": "2.8.10", "message-format": "2.8.11",
	"ietf-language-tag": "2.8.12", "fields": "2.8.13", "error": "2.8.14", "amqp-error": "2.8.15",
	"connection-error": "2.8.16", "session-error": "2.8.17", "link-error": "2.8.18",
	"header": "3.2.1", "delivery-annotations": "3.2.2", "message-annotations": "3.2.3",
	"properties": "3.2.4", "application-properties": "3.2.5", "data": "3.2.6", "amqp-sequence": "3.2.7",
	"amqp-value": "3.2.8", "footer": "3.2.9", "annotations": "3.2.10",
	"received": "3.4.1", "accepted": "3.4.2", "rejected": "3.4.3", "released": "3.4.4", "modified": "3.4.5",
	"source": "3.5.3", "target": "3.5.4", "terminus-durability": "3.5.5", "terminus-expiry-policy": "3.5.6",
	"std-dist-mode": "3.5.7", "filter-set": "3.5.8", "node-properties": "3.5.9", "delete-on-close": "3.5.10",
	"delete-on-no-links": "3.5.11", "delete-on-no-messages": "3.5.12", "delete-on-no-links-or-messages": "3.5.13",
	"coordinator": "4.5.1", "declare": "4.5.2", "discharge": "4.5.3", "transaction-id": "4.5.4",
	"declared": "4.5.5", "transactional-state": "4.5.6", "txn-capability": "4.5.7", "transaction-error": "4.5.8",
	"sasl-mechanisms": "5.3.3.1", "sasl-init": "5.3.3.2", "sasl-challenge": "5.3.3.3",
	"sasl-response": "5.3.3.4", "sasl-outcome": "5.3.3.5", "sasl-code": "5.3.3.6",
}

// archetypeIface names the Go interface generated for an archetype that
// several composite types provide (§1.3 "provides").
var archetypeIface = map[string]string{
	"frame":           "Performative",
	"sasl-frame":      "SASLBody",
	"delivery-state":  "DeliveryState",
	"outcome":         "Outcome",
	"target":          "LinkTarget",
	"lifetime-policy": "LifetimePolicy",
}

// archetypeSymbol names the symbol type generated for an archetype provided
// by restricted symbol types with choices; their choices become constants
// of this one type, so they can be assigned to the field that requires it.
var archetypeSymbol = map[string]string{
	"error-condition":   "ErrorCondition",
	"distribution-mode": "DistributionMode",
	"txn-capability":    "TxnCapability",
}

// primitive Go types of the value model.
var primitive = map[string]string{
	"boolean": "bool", "ubyte": "uint8", "ushort": "uint16", "uint": "uint32", "ulong": "uint64",
	"byte": "int8", "short": "int16", "int": "int32", "long": "int64", "float": "float32", "double": "float64",
	"timestamp": "time.Time", "uuid": "encoding.UUID", "binary": "[]byte", "string": "string",
	"symbol": "encoding.Symbol", "map": "encoding.Map", "list": "[]any", "char": "encoding.Char",
}

type generator struct {
	pkg     string
	types   map[string]*xmlType
	order   []*xmlType
	defs    []xmlDefinition
	buf     strings.Builder
	imports map[string]bool
}

// Generate loads every XML file in dir and returns the formatted Go source
// for the included sections.
func Generate(dir, pkg, include string) ([]byte, error) {
	g := &generator{pkg: pkg, types: map[string]*xmlType{}, imports: map[string]bool{}}
	inc := map[string]bool{}
	for _, s := range strings.Split(include, ",") {
		inc[strings.TrimSpace(s)] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	// Emit in a fixed file order so the output does not depend on names.
	rank := map[string]int{"types": 0, "transport": 1, "messaging": 2, "security": 3, "transactions": 4}
	sort.SliceStable(files, func(i, j int) bool {
		return rank[strings.TrimSuffix(filepath.Base(files[i]), ".xml")] < rank[strings.TrimSuffix(filepath.Base(files[j]), ".xml")]
	})
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc xmlAMQP
		if err := xml.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, s := range doc.Sections {
			emit := inc[doc.Name] || inc[doc.Name+":"+s.Name]
			for _, t := range s.Types {
				t.file, t.section, t.emit = doc.Name, s.Name, emit
				g.types[t.Name] = t
				g.order = append(g.order, t)
			}
			if emit {
				g.defs = append(g.defs, s.Definitions...)
			}
		}
	}
	return g.run()
}

// goName converts an AMQP name to an exported Go name with initialisms.
func goName(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ':' }) {
		switch w {
		case "id", "sasl", "amqp", "ietf", "uuid", "ttl", "tls", "ok":
			b.WriteString(strings.ToUpper(w))
		default:
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func (g *generator) p(format string, args ...any) { fmt.Fprintf(&g.buf, format, args...) }

// fieldKind describes how a field is represented and coded.
type fieldKind struct {
	goType   string // Go type of the struct field
	base     string // primitive AMQP type for primitives and restricted types; "" otherwise
	elemType string // Go type of the value (differs from goType for Optional)
	optional bool   // wrapped in encoding.Optional
	ptr      string // composite type for a pointer field
	iface    string // archetype interface
	anyValue bool   // any
	multiple bool
	zeroNull bool   // the Go zero value stands for null
	defExpr  string // Go expression of a non-zero default
}

// resolve finds the primitive source of a restricted type.
func (g *generator) resolve(name string) string {
	for i := 0; i < 10; i++ {
		if _, ok := primitive[name]; ok {
			return name
		}
		t := g.types[name]
		if t == nil || t.Class != "restricted" || t.Source == "*" {
			return name
		}
		name = t.Source
	}
	return name
}

// typeName returns the Go type for an AMQP type used by a field.
func (g *generator) typeName(name string) string {
	if p, ok := primitive[name]; ok {
		return p
	}
	t := g.types[name]
	if t == nil {
		return "any"
	}
	if t.Class == "composite" {
		return goName(name)
	}
	if t.Class == "restricted" && t.emit && !archetypeMember(t, g) {
		if len(t.Choices) > 0 && t.Source == "symbol" && archetypeSymbol[t.Provides] != "" {
			return archetypeSymbol[t.Provides]
		}
		return goName(name)
	}
	return primitive[g.resolve(name)]
}

// providers lists the types that provide an archetype.
func (g *generator) providers(arch string) []*xmlType {
	var out []*xmlType
	for _, t := range g.order {
		for _, p := range strings.Split(t.Provides, ",") {
			if strings.TrimSpace(p) == arch {
				out = append(out, t)
			}
		}
	}
	return out
}

func (g *generator) kind(f *xmlField) fieldKind {
	var k fieldKind
	k.multiple = f.Multiple
	switch {
	case f.Type == "*":
		provs := g.providers(f.Requires)
		switch {
		case archetypeIface[f.Requires] != "" && len(provs) > 1:
			k.iface = archetypeIface[f.Requires]
			k.goType = k.iface
		case len(provs) == 1 && provs[0].Class == "composite":
			k.ptr = goName(provs[0].Name)
			k.goType = "*" + k.ptr
		case len(provs) == 1:
			k.base = g.resolve(provs[0].Name)
			k.goType = g.typeName(provs[0].Name)
		default:
			k.anyValue = true
			k.goType = "any"
		}
	case g.types[f.Type] != nil && g.types[f.Type].Class == "composite":
		k.ptr = goName(f.Type)
		k.goType = "*" + k.ptr
	case f.Requires != "" && archetypeSymbol[f.Requires] != "" && f.Type == "symbol":
		k.base = "symbol"
		k.goType = archetypeSymbol[f.Requires]
	default:
		k.base = g.resolve(f.Type)
		k.goType = g.typeName(f.Type)
	}
	k.elemType = k.goType
	if k.multiple {
		k.goType = "[]" + k.goType
		k.elemType = k.goType
		k.zeroNull = true
		return k
	}
	switch k.base {
	case "string", "symbol", "binary", "map", "timestamp", "list":
		k.zeroNull = true
	case "":
		k.zeroNull = true // pointer, interface, any: nil is null
	}
	if f.Default != "" {
		def := g.defaultExpr(f, k)
		if def == "" {
			k.zeroNull = true
		} else if k.zeroNull {
			k.defExpr = def
		} else {
			k.optional = true
			k.defExpr = def
		}
	} else if !k.zeroNull && !f.Mandatory {
		k.optional = true
	}
	if k.optional {
		k.goType = "encoding.Optional[" + k.elemType + "]"
	}
	return k
}

// defaultExpr returns the Go expression of a field's default, or "" when
// the default is the Go zero value.
func (g *generator) defaultExpr(f *xmlField, k fieldKind) string {
	val := f.Default
	if t := g.types[f.Type]; t != nil {
		for _, c := range t.Choices {
			if c.Name == val {
				if c.Value == "0" || c.Value == "false" {
					return ""
				}
				return g.constName(t, c)
			}
		}
	}
	switch val {
	case "false", "0", "":
		return ""
	}
	if k.base == "symbol" || k.base == "string" {
		return strconv.Quote(val)
	}
	return val
}

// archetypeMember reports whether t is a bare alias of a primitive that
// only serves to provide an archetype (message-id-ulong, address-string):
// fields requiring the archetype use the primitive directly.
func archetypeMember(t *xmlType, g *generator) bool {
	return t.Provides != "" && len(t.Choices) == 0 && t.Descriptor == nil &&
		g.types[t.Source] != nil && g.types[t.Source].Class == "primitive" &&
		(strings.Contains(t.Provides, "message-id") || strings.Contains(t.Provides, "address"))
}

func trimPrefixWord(typ, choice string) string {
	first := strings.SplitN(typ, "-", 2)[0]
	if rest, ok := strings.CutPrefix(choice, first+"-"); ok && rest != "" {
		return rest
	}
	return choice
}

func (g *generator) constName(t *xmlType, c xmlChoice) string {
	return goName(t.Name) + goName(trimPrefixWord(t.Name, c.Name))
}

func (g *generator) run() ([]byte, error) {
	g.p("// Code generated by amqpgen from the OASIS AMQP 1.0 XML definitions. DO NOT EDIT.\n\n")
	g.p("package %s\n\n", g.pkg)
	body := &strings.Builder{}
	saved := g.buf
	g.buf = strings.Builder{}
	g.emitDefinitions()
	g.emitRestricted()
	g.emitInterfaces()
	for _, t := range g.order {
		if t.emit && t.Class == "composite" {
			g.emitComposite(t)
		}
	}
	body.WriteString(g.buf.String())
	g.buf = saved
	g.p("import (\n")
	g.imports["github.com/rosettamq/rosetta/protocols/amqp/encoding"] = true
	var std, mod []string
	for i := range g.imports {
		if strings.Contains(strings.SplitN(i, "/", 2)[0], ".") {
			mod = append(mod, i)
		} else {
			std = append(std, i)
		}
	}
	sort.Strings(std)
	sort.Strings(mod)
	for _, i := range std {
		g.p("\t%q\n", i)
	}
	if len(std) > 0 {
		g.p("\n")
	}
	for _, i := range mod {
		g.p("\t%q\n", i)
	}
	g.p(")\n\n")
	g.buf.WriteString(body.String())
	src, err := format.Source([]byte(g.buf.String()))
	if err != nil {
		return []byte(g.buf.String()), fmt.Errorf("format: %w", err)
	}
	return src, nil
}

func (g *generator) emitDefinitions() {
	if len(g.defs) == 0 {
		return
	}
	g.p("// Constant definitions of the specification.\nconst (\n")
	for _, d := range g.defs {
		g.p("\t%s = %s // %s\n", goName(strings.ToLower(d.Name)), d.Value, d.Name)
	}
	g.p(")\n\n")
}

func sec(name string) string {
	if s := specSection[name]; s != "" {
		return " (§" + s + ")"
	}
	return ""
}

func descriptorCode(t *xmlType) uint64 {
	parts := strings.Split(t.Descriptor.Code, ":")
	hi, _ := strconv.ParseUint(strings.TrimPrefix(parts[0], "0x"), 16, 32)
	lo, _ := strconv.ParseUint(strings.TrimPrefix(parts[1], "0x"), 16, 32)
	return hi<<32 | lo
}

func (g *generator) emitRestricted() {
	symTypes := map[string]bool{}
	for _, t := range g.order {
		if !t.emit || t.Class != "restricted" {
			continue
		}
		name := goName(t.Name)
		if t.Descriptor != nil {
			g.p("// Descriptor%s and Symbol%s identify the %s section%s, a described %s.\n", name, name, t.Name, sec(t.Name), t.Source)
			g.p("const (\n\tDescriptor%s uint64 = %#x\n\tSymbol%s encoding.Symbol = %q\n)\n\n", name, descriptorCode(t), name, t.Descriptor.Name)
			continue
		}
		if archetypeMember(t, g) {
			continue // resolved to its primitive at the field
		}
		if arch := archetypeSymbol[t.Provides]; arch != "" && t.Source == "symbol" {
			if !symTypes[arch] {
				symTypes[arch] = true
				g.p("// %s is a symbol providing the %s archetype.\ntype %s encoding.Symbol\n\n", arch, t.Provides, arch)
			}
			g.p("// Choices of %s%s.\nconst (\n", t.Name, sec(t.Name))
			for _, c := range t.Choices {
				g.p("\t%s %s = %q\n", g.constName(t, c), arch, c.Value)
			}
			g.p(")\n\n")
			continue
		}
		base := g.resolve(t.Source)
		gt := primitive[base]
		if gt == "" {
			continue
		}
		if base == "map" {
			g.p("// %s is %s%s, a restricted map.\ntype %s = encoding.Map\n\n", name, t.Name, sec(t.Name), name)
			continue
		}
		g.p("// %s is %s%s, a restricted %s.\ntype %s %s\n\n", name, t.Name, sec(t.Name), t.Source, name, gt)
		if len(t.Choices) == 0 {
			continue
		}
		g.p("// Choices of %s.\nconst (\n", t.Name)
		for _, c := range t.Choices {
			v := c.Value
			if base == "symbol" || base == "string" {
				v = strconv.Quote(v)
			}
			g.p("\t%s %s = %s\n", g.constName(t, c), name, v)
		}
		g.p(")\n\n")
		g.p("// String returns the specification's name for the choice.\nfunc (v %s) String() string {\n\tswitch v {\n", name)
		for _, c := range t.Choices {
			g.p("\tcase %s:\n\t\treturn %q\n", g.constName(t, c), c.Name)
		}
		if base == "symbol" {
			g.p("\t}\n\treturn string(v)\n}\n\n")
		} else {
			g.p("\t}\n\treturn fmt.Sprintf(\"%s(%%v)\", %s(v))\n}\n\n", t.Name, gt)
			g.imports["fmt"] = true
		}
	}
}

func (g *generator) emitInterfaces() {
	archs := make([]string, 0, len(archetypeIface))
	for a := range archetypeIface {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	for _, a := range archs {
		var provs []*xmlType
		for _, t := range g.providers(a) {
			if t.emit && t.Class == "composite" {
				provs = append(provs, t)
			}
		}
		if len(provs) < 2 {
			continue
		}
		iface := archetypeIface[a]
		var names []string
		for _, t := range provs {
			names = append(names, "*"+goName(t.Name))
		}
		g.p("// %s is implemented by the composite types that provide the %q archetype:\n// %s.\n", iface, a, strings.Join(names, ", "))
		g.p("type %s interface {\n\tencoding.Marshaler\n\tDecodeFrom(d *encoding.Decoder) error\n\tDescriptor() uint64\n\tis%s()\n}\n\n", iface, iface)
		for _, t := range provs {
			g.p("func (*%s) is%s() {}\n", goName(t.Name), iface)
		}
		g.p("\n// Decode%s decodes a value providing %s, choosing the type by its\n// descriptor (numeric or symbolic, §1.5).\n", iface, a)
		g.p("func Decode%s(d *encoding.Decoder) (%s, error) {\n", iface, iface)
		g.p("\tcode, name, err := d.PeekDescriptor()\n\tif err != nil {\n\t\treturn nil, err\n\t}\n\tswitch {\n")
		for _, t := range provs {
			// Concrete calls, so that d does not escape through an interface.
			g.p("\tcase code == %#x || name == %q:\n\t\tv := new(%s)\n\t\treturn v, v.DecodeFrom(d)\n", descriptorCode(t), t.Descriptor.Name, goName(t.Name))
		}
		g.p("\t}\n\treturn nil, &encoding.Error{Offset: d.Offset(), Err: encoding.ErrTypeMismatch, Detail: fmt.Sprintf(\"descriptor %%#x %%q does not provide %s\", code, name)}\n}\n\n", a)
		g.imports["fmt"] = true
	}
}

func (g *generator) emitComposite(t *xmlType) {
	name := goName(t.Name)
	code := descriptorCode(t)
	what := "composite"
	switch {
	case strings.Contains(t.Provides, "sasl-frame"):
		what = "SASL frame body"
	case strings.Contains(t.Provides, "frame"):
		what = "performative"
	case strings.Contains(t.Provides, "delivery-state"):
		what = "delivery state"
	case strings.Contains(t.Provides, "section"):
		what = "message section"
	}
	g.p("// Descriptor%s and Symbol%s identify %s.\n", name, name, name)
	g.p("const (\n\tDescriptor%s uint64 = %#x\n\tSymbol%s encoding.Symbol = %q\n)\n\n", name, code, name, t.Descriptor.Name)
	g.p("// %s is the %s %s%s, encoded as a described list (%s).\n", name, t.Name, what, sec(t.Name), t.Descriptor.Code)
	if len(t.Fields) > 0 {
		g.p("// Absent fields are: nil, \"\", the zero time, or an unset Optional; a field\n// whose default is the Go zero value uses that zero value.\n")
	}
	g.p("type %s struct {\n", name)
	kinds := make([]fieldKind, len(t.Fields))
	for i, f := range t.Fields {
		k := g.kind(f)
		kinds[i] = k
		if strings.Contains(k.goType, "time.") {
			g.imports["time"] = true
		}
		var notes []string
		if f.Mandatory {
			notes = append(notes, "mandatory")
		}
		if f.Multiple {
			notes = append(notes, "multiple")
		}
		if f.Default != "" {
			notes = append(notes, "default "+f.Default)
		}
		if f.Requires != "" {
			notes = append(notes, "requires "+f.Requires)
		}
		note := f.Name
		if len(notes) > 0 {
			note += ": " + strings.Join(notes, ", ")
		}
		g.p("\t%s %s // %s\n", goName(f.Name), k.goType, note)
	}
	g.p("}\n\n")

	g.p("// Descriptor returns %#x, the numeric descriptor of %s.\n", code, t.Name)
	g.p("func (*%s) Descriptor() uint64 { return Descriptor%s }\n\n", name, name)

	for i, f := range t.Fields {
		k := kinds[i]
		if k.defExpr == "" {
			continue
		}
		fn := goName(f.Name)
		if k.optional {
			g.p("// %sOrDefault returns %s, or its default %s when absent.\n", fn, f.Name, f.Default)
			g.p("func (v *%s) %sOrDefault() %s { return v.%s.Or(%s) }\n\n", name, fn, k.elemType, fn, k.defExpr)
		} else {
			g.p("// %sOrDefault returns %s, or its default %s when absent.\n", fn, f.Name, f.Default)
			g.p("func (v *%s) %sOrDefault() %s {\n\tif v.%s == \"\" {\n\t\treturn %s\n\t}\n\treturn v.%s\n}\n\n", name, fn, k.elemType, fn, k.defExpr, fn)
		}
	}

	// Marshal.
	g.p("// Marshal appends the encoding of v to dst, omitting trailing null\n// fields (§1.4).\n")
	g.p("func (v *%s) Marshal(dst []byte) ([]byte, error) {\n", name)
	g.p("\tdst = encoding.AppendDescriptor(dst, Descriptor%s)\n", name)
	if len(t.Fields) == 0 {
		g.p("\treturn append(dst, encoding.CodeList0), nil\n}\n\n")
	} else {
		lastMandatory := 0
		for i, f := range t.Fields {
			if f.Mandatory {
				lastMandatory = i + 1
			}
		}
		g.p("\tn := %d\n\tswitch {\n", lastMandatory)
		for i := len(t.Fields) - 1; i >= lastMandatory; i-- {
			g.p("\tcase %s:\n\t\tn = %d\n", g.setExpr("v."+goName(t.Fields[i].Name), kinds[i]), i+1)
		}
		g.p("\t}\n")
		if lastMandatory == 0 {
			g.p("\tif n == 0 {\n\t\treturn append(dst, encoding.CodeList0), nil\n\t}\n")
		}
		g.p("\tdst, c := encoding.BeginList(dst)\n")
		needErr := false
		for _, k := range kinds {
			if g.appendMayFail(k) {
				needErr = true
			}
		}
		if needErr {
			g.p("\tvar err error\n")
		}
		for i, f := range t.Fields {
			k := kinds[i]
			fv := "v." + goName(f.Name)
			if i >= lastMandatory {
				g.p("\tif n <= %d {\n\t\treturn c.End(dst, n), nil\n\t}\n", i)
			}
			if f.Mandatory {
				g.p("\t%s\n", g.appendStmt(fv, k, t.Name+"."+f.Name))
			} else {
				g.p("\tif %s {\n\t\t%s\n\t} else {\n\t\tdst = encoding.AppendNull(dst)\n\t}\n", g.setExpr(fv, k), g.appendStmt(fv, k, t.Name+"."+f.Name))
			}
		}
		g.p("\treturn c.End(dst, n), nil\n}\n\n")
	}

	// Unmarshal and DecodeFrom.
	g.p("// Unmarshal decodes b, which must hold exactly one encoded %s.\n", t.Name)
	g.p("func (v *%s) Unmarshal(b []byte) error {\n\td := encoding.NewDecoder(b)\n\tif err := v.DecodeFrom(d); err != nil {\n\t\treturn err\n\t}\n", name)
	g.p("\tif d.Len() != 0 {\n\t\treturn &encoding.Error{Offset: d.Offset(), Field: %q, Err: encoding.ErrInvalidSize, Detail: \"trailing bytes\"}\n\t}\n\treturn nil\n}\n\n", t.Name)
	g.p("// DecodeFrom decodes one %s from d, accepting its numeric or symbolic\n// descriptor. Missing mandatory fields are an error wrapping\n// encoding.ErrMissingField; absent fields take their defaults.\n", t.Name)
	g.p("func (v *%s) DecodeFrom(d *encoding.Decoder) error {\n", name)
	g.p("\th, err := d.ReadDescribedList(Descriptor%s, Symbol%s)\n\tif err != nil {\n\t\treturn encoding.WithField(err, %q)\n\t}\n", name, name, t.Name)
	g.p("\t*v = %s{}\n", name)
	for i, f := range t.Fields {
		k := kinds[i]
		fv := "v." + goName(f.Name)
		fieldName := t.Name + "." + f.Name
		g.p("\t// %s\n", f.Name)
		if f.Mandatory {
			g.p("\tif h.Count <= %d || d.TryNull() {\n\t\treturn &encoding.Error{Offset: d.Offset(), Field: %q, Err: encoding.ErrMissingField}\n\t}\n\t{\n", i, fieldName)
		} else {
			g.p("\tif h.Count > %d && !d.TryNull() {\n", i)
		}
		g.p("\t\t%s\n", g.decodeStmt(fv, k, fieldName))
		g.p("\t}\n")
		if f.Mandatory && f.Multiple {
			g.p("\tif len(%s) == 0 {\n\t\treturn &encoding.Error{Offset: d.Offset(), Field: %q, Err: encoding.ErrMissingField, Detail: \"empty array\"}\n\t}\n", fv, fieldName)
		}
	}
	g.p("\tif err := d.EndList(h, %d); err != nil {\n\t\treturn encoding.WithField(err, %q)\n\t}\n\treturn nil\n}\n\n", min(len(t.Fields), 1<<20), t.Name)
}

// setExpr is a Go expression that is true when the field is not null.
func (g *generator) setExpr(fv string, k fieldKind) string {
	switch {
	case k.optional:
		return fv + ".Set"
	case k.multiple, k.ptr != "", k.iface != "", k.anyValue:
		return fv + " != nil"
	}
	switch k.base {
	case "string", "symbol":
		return fv + ` != ""`
	case "binary", "map", "list":
		return fv + " != nil"
	case "timestamp":
		return "!" + fv + ".IsZero()"
	case "boolean":
		return fv
	}
	return fv + " != 0"
}

func (g *generator) appendMayFail(k fieldKind) bool {
	return k.ptr != "" || k.iface != "" || k.anyValue || k.base == "map" || k.base == "list"
}

// appendStmt appends a non-null field value.
func (g *generator) appendStmt(fv string, k fieldKind, field string) string {
	if k.optional {
		fv += ".Value"
	}
	wrap := func(call string) string {
		return fmt.Sprintf("if dst, err = %s; err != nil {\n\t\treturn dst, encoding.WithField(err, %q)\n\t}", call, field)
	}
	switch {
	case k.multiple:
		return fmt.Sprintf("dst = encoding.AppendSymbolArray(dst, %s)", fv)
	case k.ptr != "", k.iface != "":
		return wrap(fv + ".Marshal(dst)")
	case k.anyValue:
		return wrap("encoding.AppendValue(dst, " + fv + ")")
	}
	switch k.base {
	case "boolean":
		return fmt.Sprintf("dst = encoding.AppendBool(dst, bool(%s))", fv)
	case "ubyte":
		return fmt.Sprintf("dst = encoding.AppendUbyte(dst, uint8(%s))", fv)
	case "ushort":
		return fmt.Sprintf("dst = encoding.AppendUshort(dst, uint16(%s))", fv)
	case "uint":
		return fmt.Sprintf("dst = encoding.AppendUint(dst, uint32(%s))", fv)
	case "ulong":
		return fmt.Sprintf("dst = encoding.AppendUlong(dst, uint64(%s))", fv)
	case "string":
		return fmt.Sprintf("dst = encoding.AppendString(dst, string(%s))", fv)
	case "symbol":
		return fmt.Sprintf("dst = encoding.AppendSymbol(dst, encoding.Symbol(%s))", fv)
	case "binary":
		return fmt.Sprintf("dst = encoding.AppendBinary(dst, %s)", fv)
	case "timestamp":
		return fmt.Sprintf("dst = encoding.AppendTimestamp(dst, %s)", fv)
	case "map":
		return wrap("encoding.AppendMap(dst, " + fv + ")")
	}
	return wrap("encoding.AppendValue(dst, " + fv + ")")
}

// decodeStmt decodes a non-null field value into fv.
func (g *generator) decodeStmt(fv string, k fieldKind, field string) string {
	set := fv
	if k.optional {
		set = fv + ".Value"
	}
	check := fmt.Sprintf("if err != nil {\n\t\t\treturn encoding.WithField(err, %q)\n\t\t}", field)
	done := ""
	if k.optional {
		done = "\n\t\t" + fv + ".Set = true"
	}
	switch {
	case k.multiple:
		return fmt.Sprintf("%s, err = encoding.DecodeSymbols[%s](d)\n\t\t%s", set, strings.TrimPrefix(k.elemType, "[]"), check)
	case k.ptr != "":
		return fmt.Sprintf("%s = new(%s)\n\t\terr = %s.DecodeFrom(d)\n\t\t%s", set, k.ptr, set, check)
	case k.iface != "":
		return fmt.Sprintf("%s, err = Decode%s(d)\n\t\t%s", set, k.iface, check)
	case k.anyValue:
		return fmt.Sprintf("%s, err = d.Value()\n\t\t%s", set, check)
	}
	method := map[string]string{
		"boolean": "Bool", "ubyte": "Ubyte", "ushort": "Ushort", "uint": "Uint", "ulong": "Ulong",
		"string": "String", "symbol": "Symbol", "binary": "Binary", "timestamp": "Timestamp", "map": "Map",
		"list": "List",
	}[k.base]
	if method == "" {
		return fmt.Sprintf("%s, err = d.Value()\n\t\t%s", set, check)
	}
	return fmt.Sprintf("x, err := d.%s()\n\t\t%s\n\t\t%s = %s(x)%s", method, check, set, k.elemType, done)
}
