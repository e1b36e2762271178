package amqp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rosettamq/rosetta/core/message"
)

// A selector is a JMS message selector (Jakarta Messaging §3.8.1.1), as
// carried by the apache.org:selector-filter:string filter: an SQL-92-like
// condition over the message's header fields and properties, evaluated
// with SQL's three-valued logic (unknown never matches).
//
// Identifiers are application properties (message.Headers) except the JMS
// header names and their AMQP translations (apache-filters.xml): JMSMessageID
// (amqp.message_id), JMSCorrelationID (amqp.correlation_id), JMSPriority
// (amqp.priority), JMSTimestamp (amqp.creation_time), JMSExpiration
// (amqp.absolute_expiry_time), JMSDeliveryMode ('PERSISTENT' or
// 'NON_PERSISTENT'; amqp.durable is a boolean), JMSType (the x-opt-jms-type
// annotation, else the subject), JMSReplyTo (amqp.reply_to), plus
// amqp.subject, amqp.content_type and amqp.group_id.
type selector struct {
	root node
	text string
}

// Limits on a selector, so that parsing and evaluation stay cheap: the
// filter runs under the queue lock for every message it looks at.
const (
	maxSelectorLen   = 4096
	maxSelectorDepth = 64
	maxInList        = 256
)

var errSelector = errors.New("invalid selector")

// parseSelector parses a selector; an empty or blank one is an error
// here (the caller treats "no selector" itself).
func parseSelector(s string) (*selector, error) {
	if len(s) > maxSelectorLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", errSelector, maxSelectorLen)
	}
	p := &selParser{lex: selLexer{src: s}}
	if err := p.next(); err != nil {
		return nil, err
	}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errorf("unexpected %s", p.tok)
	}
	if !isBoolNode(n) {
		return nil, fmt.Errorf("%w: not a condition", errSelector)
	}
	return &selector{root: n, text: s}, nil
}

// Match reports whether m is selected: the condition is true (not false,
// not unknown).
func (s *selector) Match(m *message.Message) bool {
	v := s.root.eval(m)
	return v.k == vBool && v.b
}

func (s *selector) String() string { return s.root.String() }

// --- values ---

type vkind uint8

const (
	vNull vkind = iota // SQL NULL: unknown
	vBool
	vInt
	vFloat
	vString
	vOther // bytes, uuid: comparable to nothing
)

type val struct {
	k vkind
	b bool
	i int64
	f float64
	s string
}

var (
	vTrue    = val{k: vBool, b: true}
	vFalse   = val{k: vBool}
	vUnknown = val{}
)

func boolVal(b bool) val {
	if b {
		return vTrue
	}
	return vFalse
}

func (v val) num() (float64, bool) {
	switch v.k {
	case vInt:
		return float64(v.i), true
	case vFloat:
		return v.f, true
	}
	return 0, false
}

// --- lexer ---

type tkind uint8

const (
	tEOF tkind = iota
	tIdent
	tString
	tInt
	tFloat
	tOp      // = <> < <= > >= + - * / ( ) ,
	tKeyword // NOT AND OR BETWEEN LIKE IN IS ESCAPE NULL TRUE FALSE (upper case)
)

type token struct {
	kind tkind
	text string // identifier, string value, operator, upper-case keyword
	i    int64
	f    float64
	pos  int
	big  bool // 9223372036854775808: valid only negated
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of selector"
	case tString:
		return strconv.Quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

var keywords = map[string]bool{
	"NOT": true, "AND": true, "OR": true, "BETWEEN": true, "LIKE": true, "IN": true,
	"IS": true, "ESCAPE": true, "NULL": true, "TRUE": true, "FALSE": true,
}

type selLexer struct {
	src string
	pos int
}

func (l *selLexer) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errSelector, pos, fmt.Sprintf(format, args...))
}

func (l *selLexer) next() (token, error) {
	s := l.src
	for l.pos < len(s) {
		r, n := utf8.DecodeRuneInString(s[l.pos:])
		if r != ' ' && r != '\t' && r != '\f' && r != '\n' && r != '\r' {
			break
		}
		l.pos += n
	}
	start := l.pos
	if l.pos >= len(s) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := s[l.pos]
	switch {
	case c == '\'':
		var b strings.Builder
		l.pos++
		for {
			i := strings.IndexByte(s[l.pos:], '\'')
			if i < 0 {
				return token{}, l.errorf(start, "unterminated string")
			}
			b.WriteString(s[l.pos : l.pos+i])
			l.pos += i + 1
			if l.pos < len(s) && s[l.pos] == '\'' { // '' is a quote
				b.WriteByte('\'')
				l.pos++
				continue
			}
			return token{kind: tString, text: b.String(), pos: start}, nil
		}
	case c >= '0' && c <= '9' || c == '.' && l.pos+1 < len(s) && s[l.pos+1] >= '0' && s[l.pos+1] <= '9':
		return l.number(start)
	case c == '<':
		if strings.HasPrefix(s[l.pos:], "<>") || strings.HasPrefix(s[l.pos:], "<=") {
			l.pos += 2
			return token{kind: tOp, text: s[start:l.pos], pos: start}, nil
		}
		l.pos++
		return token{kind: tOp, text: "<", pos: start}, nil
	case c == '>':
		if strings.HasPrefix(s[l.pos:], ">=") {
			l.pos += 2
			return token{kind: tOp, text: ">=", pos: start}, nil
		}
		l.pos++
		return token{kind: tOp, text: ">", pos: start}, nil
	case strings.IndexByte("=+-*/(),", c) >= 0:
		l.pos++
		return token{kind: tOp, text: s[start:l.pos], pos: start}, nil
	}
	r, n := utf8.DecodeRuneInString(s[l.pos:])
	if !identStart(r) {
		return token{}, l.errorf(start, "unexpected character %q", r)
	}
	l.pos += n
	for l.pos < len(s) {
		r, n := utf8.DecodeRuneInString(s[l.pos:])
		if !identPart(r) {
			break
		}
		l.pos += n
	}
	word := s[start:l.pos]
	if up := strings.ToUpper(word); keywords[up] {
		return token{kind: tKeyword, text: up, pos: start}, nil
	}
	return token{kind: tIdent, text: word, pos: start}, nil
}

// identStart and identPart follow Java's isJavaIdentifierStart/Part; "."
// is allowed inside a name for the amqp.* translations.
func identStart(r rune) bool {
	return r == '_' || r == '$' || unicode.IsLetter(r)
}

func identPart(r rune) bool {
	return identStart(r) || r == '.' || unicode.IsDigit(r)
}

// number lexes a Java integer literal (decimal, 0x hex, 0 octal, optional
// L) or floating-point literal (digits with a point and/or an exponent,
// optional F or D).
func (l *selLexer) number(start int) (token, error) {
	s := l.src
	i := l.pos
	if strings.HasPrefix(s[i:], "0x") || strings.HasPrefix(s[i:], "0X") {
		j := i + 2
		for j < len(s) && isHex(s[j]) {
			j++
		}
		n, err := strconv.ParseUint(s[i+2:j], 16, 64)
		if err != nil {
			return token{}, l.errorf(start, "bad hexadecimal literal %q", s[i:j])
		}
		if j < len(s) && (s[j] == 'l' || s[j] == 'L') {
			j++
		}
		l.pos = j
		return token{kind: tInt, i: int64(n), text: s[start:j], pos: start}, nil
	}
	j := i
	digits := func() {
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	digits()
	isFloat := false
	if j < len(s) && s[j] == '.' {
		isFloat = true
		j++
		digits()
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && s[k] >= '0' && s[k] <= '9' {
			isFloat = true
			j = k
			digits()
		}
	}
	text := s[i:j]
	if j < len(s) {
		switch s[j] {
		case 'f', 'F', 'd', 'D':
			isFloat = true
			j++
		case 'l', 'L':
			if !isFloat {
				j++
			}
		}
	}
	l.pos = j
	if j < len(s) {
		if r, _ := utf8.DecodeRuneInString(s[j:]); identPart(r) && r != '.' {
			return token{}, l.errorf(start, "bad number %q", s[start:j+1])
		}
	}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return token{}, l.errorf(start, "bad number %q", text)
		}
		return token{kind: tFloat, f: f, text: s[start:j], pos: start}, nil
	}
	base := 10
	if len(text) > 1 && text[0] == '0' {
		base = 8
	}
	n, err := strconv.ParseInt(text, base, 64)
	if err != nil {
		if base == 10 && text == "9223372036854775808" {
			// Valid only after a minus, as in Java.
			return token{kind: tInt, i: math.MinInt64, big: true, text: s[start:j], pos: start}, nil
		}
		return token{}, l.errorf(start, "integer %q out of range", text)
	}
	return token{kind: tInt, i: n, text: s[start:j], pos: start}, nil
}

// --- parser ---

type selParser struct {
	lex   selLexer
	tok   token
	depth int
}

func (p *selParser) next() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *selParser) errorf(format string, args ...any) error {
	return p.lex.errorf(p.tok.pos, format, args...)
}

func (p *selParser) isKw(kw string) bool { return p.tok.kind == tKeyword && p.tok.text == kw }
func (p *selParser) isOp(op string) bool { return p.tok.kind == tOp && p.tok.text == op }

func (p *selParser) enter() error {
	p.depth++
	if p.depth > maxSelectorDepth {
		return p.errorf("nested deeper than %d", maxSelectorDepth)
	}
	return nil
}

// expr parses OR (lowest), AND, NOT, then predicates; level 0 is OR.
func (p *selParser) expr(level int) (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch level {
	case 0, 1:
		kw := "OR"
		if level == 1 {
			kw = "AND"
		}
		left, err := p.expr(level + 1)
		if err != nil {
			return nil, err
		}
		for p.isKw(kw) {
			if err := p.next(); err != nil {
				return nil, err
			}
			right, err := p.expr(level + 1)
			if err != nil {
				return nil, err
			}
			if !isBoolNode(left) || !isBoolNode(right) {
				return nil, p.errorf("%s needs conditions", kw)
			}
			left = &logicNode{or: level == 0, l: left, r: right}
		}
		return left, nil
	default:
		if p.isKw("NOT") {
			if err := p.next(); err != nil {
				return nil, err
			}
			x, err := p.expr(2)
			if err != nil {
				return nil, err
			}
			if !isBoolNode(x) {
				return nil, p.errorf("NOT needs a condition")
			}
			return &notNode{x: x}, nil
		}
		return p.predicate()
	}
}

func (p *selParser) predicate() (node, error) {
	left, err := p.sum()
	if err != nil {
		return nil, err
	}
	switch {
	case p.tok.kind == tOp && isCmpOp(p.tok.text):
		op := p.tok.text
		if err := p.next(); err != nil {
			return nil, err
		}
		right, err := p.sum()
		if err != nil {
			return nil, err
		}
		return &cmpNode{op: op, l: left, r: right}, nil
	case p.isKw("IS"):
		if err := p.next(); err != nil {
			return nil, err
		}
		not := false
		if p.isKw("NOT") {
			not = true
			if err := p.next(); err != nil {
				return nil, err
			}
		}
		if !p.isKw("NULL") {
			return nil, p.errorf("expected NULL after IS")
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		return &isNullNode{x: left, not: not}, nil
	case p.isKw("NOT") || p.isKw("BETWEEN") || p.isKw("IN") || p.isKw("LIKE"):
		not := false
		if p.isKw("NOT") {
			not = true
			if err := p.next(); err != nil {
				return nil, err
			}
		}
		switch {
		case p.isKw("BETWEEN"):
			if err := p.next(); err != nil {
				return nil, err
			}
			lo, err := p.sum()
			if err != nil {
				return nil, err
			}
			if !p.isKw("AND") {
				return nil, p.errorf("expected AND in BETWEEN")
			}
			if err := p.next(); err != nil {
				return nil, err
			}
			hi, err := p.sum()
			if err != nil {
				return nil, err
			}
			return &betweenNode{x: left, lo: lo, hi: hi, not: not}, nil
		case p.isKw("IN"):
			if err := p.next(); err != nil {
				return nil, err
			}
			if !p.isOp("(") {
				return nil, p.errorf("expected ( after IN")
			}
			var list []string
			for {
				if err := p.next(); err != nil {
					return nil, err
				}
				if p.tok.kind != tString {
					return nil, p.errorf("IN takes string literals")
				}
				if len(list) >= maxInList {
					return nil, p.errorf("more than %d values in IN", maxInList)
				}
				list = append(list, p.tok.text)
				if err := p.next(); err != nil {
					return nil, err
				}
				if p.isOp(")") {
					break
				}
				if !p.isOp(",") {
					return nil, p.errorf("expected , or ) in IN")
				}
			}
			if err := p.next(); err != nil {
				return nil, err
			}
			return &inNode{x: left, list: list, not: not}, nil
		case p.isKw("LIKE"):
			if err := p.next(); err != nil {
				return nil, err
			}
			if p.tok.kind != tString {
				return nil, p.errorf("LIKE takes a string literal")
			}
			n := &likeNode{x: left, pattern: p.tok.text, not: not, esc: -1}
			if err := p.next(); err != nil {
				return nil, err
			}
			if p.isKw("ESCAPE") {
				if err := p.next(); err != nil {
					return nil, err
				}
				if p.tok.kind != tString || utf8.RuneCountInString(p.tok.text) != 1 {
					return nil, p.errorf("ESCAPE takes a one-character string")
				}
				r, _ := utf8.DecodeRuneInString(p.tok.text)
				n.esc = r
				if err := p.next(); err != nil {
					return nil, err
				}
			}
			return n, nil
		}
		return nil, p.errorf("expected BETWEEN, IN or LIKE after NOT")
	}
	return left, nil
}

func isCmpOp(op string) bool {
	switch op {
	case "=", "<>", "<", "<=", ">", ">=":
		return true
	}
	return false
}

func (p *selParser) sum() (node, error) {
	left, err := p.product()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		op := p.tok.text
		if err := p.next(); err != nil {
			return nil, err
		}
		right, err := p.product()
		if err != nil {
			return nil, err
		}
		left = &arithNode{op: op[0], l: left, r: right}
	}
	return left, nil
}

func (p *selParser) product() (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") {
		op := p.tok.text
		if err := p.next(); err != nil {
			return nil, err
		}
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		left = &arithNode{op: op[0], l: left, r: right}
	}
	return left, nil
}

func (p *selParser) unary() (node, error) {
	if p.isOp("+") || p.isOp("-") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		neg := p.tok.text == "-"
		if err := p.next(); err != nil {
			return nil, err
		}
		if neg && p.tok.kind == tInt && p.tok.big {
			if err := p.next(); err != nil {
				return nil, err
			}
			return &litNode{v: val{k: vInt, i: math.MinInt64}}, nil
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if !neg {
			return &negNode{x: x, plus: true}, nil
		}
		// Fold a negated literal, so that -9223372036854775808 parses.
		if lit, ok := x.(*litNode); ok && (lit.v.k == vInt || lit.v.k == vFloat) {
			v := lit.v
			v.i, v.f = -v.i, -v.f
			return &litNode{v: v}, nil
		}
		return &negNode{x: x}, nil
	}
	return p.primary()
}

func (p *selParser) primary() (node, error) {
	t := p.tok
	switch t.kind {
	case tString:
		if err := p.next(); err != nil {
			return nil, err
		}
		return &litNode{v: val{k: vString, s: t.text}}, nil
	case tInt:
		if t.big {
			return nil, p.errorf("integer %s out of range", t.text)
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		return &litNode{v: val{k: vInt, i: t.i}}, nil
	case tFloat:
		if err := p.next(); err != nil {
			return nil, err
		}
		return &litNode{v: val{k: vFloat, f: t.f}}, nil
	case tIdent:
		if err := p.next(); err != nil {
			return nil, err
		}
		return &identNode{name: t.text}, nil
	case tKeyword:
		switch t.text {
		case "TRUE", "FALSE":
			if err := p.next(); err != nil {
				return nil, err
			}
			return &litNode{v: boolVal(t.text == "TRUE")}, nil
		case "NULL":
			if err := p.next(); err != nil {
				return nil, err
			}
			return &litNode{v: vUnknown}, nil
		}
	case tOp:
		if t.text == "(" {
			if err := p.next(); err != nil {
				return nil, err
			}
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if !p.isOp(")") {
				return nil, p.errorf("expected )")
			}
			if err := p.next(); err != nil {
				return nil, err
			}
			return &parenNode{x: x}, nil
		}
	}
	return nil, p.errorf("unexpected %s", t)
}

// --- nodes ---

type node interface {
	eval(m *message.Message) val
	String() string
}

// isBoolNode reports whether n can yield a boolean: a condition, a
// boolean literal or an identifier (a boolean property).
func isBoolNode(n node) bool {
	switch x := n.(type) {
	case *logicNode, *notNode, *cmpNode, *betweenNode, *inNode, *likeNode, *isNullNode, *identNode:
		return true
	case *litNode:
		return x.v.k == vBool || x.v.k == vNull
	case *parenNode:
		return isBoolNode(x.x)
	}
	return false
}

type litNode struct{ v val }

func (n *litNode) eval(*message.Message) val { return n.v }
func (n *litNode) String() string {
	switch n.v.k {
	case vBool:
		if n.v.b {
			return "TRUE"
		}
		return "FALSE"
	case vInt:
		return strconv.FormatInt(n.v.i, 10)
	case vFloat:
		s := strconv.FormatFloat(n.v.f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0"
		}
		return s
	case vString:
		return "'" + strings.ReplaceAll(n.v.s, "'", "''") + "'"
	}
	return "NULL"
}

type parenNode struct{ x node }

func (n *parenNode) eval(m *message.Message) val { return n.x.eval(m) }
func (n *parenNode) String() string              { return "(" + n.x.String() + ")" }

type identNode struct{ name string }

func (n *identNode) String() string { return n.name }

func (n *identNode) eval(m *message.Message) val {
	switch n.name {
	case "JMSMessageID", "amqp.message_id":
		if v, ok := m.Annotations.Native.Get(nativeMessageID); ok {
			if v.Kind() == message.KindBytes {
				return val{k: vOther}
			}
			return val{k: vString, s: v.Str()}
		}
		if m.ID == "" {
			return vUnknown
		}
		return val{k: vString, s: m.ID}
	case "JMSCorrelationID", "amqp.correlation_id":
		if len(m.CorrelationID) == 0 {
			return vUnknown
		}
		return val{k: vString, s: string(m.CorrelationID)}
	case "JMSPriority", "amqp.priority":
		return val{k: vInt, i: int64(m.Priority)}
	case "JMSDeliveryMode":
		if m.Durable {
			return val{k: vString, s: "PERSISTENT"}
		}
		return val{k: vString, s: "NON_PERSISTENT"}
	case "amqp.durable":
		return boolVal(m.Durable)
	case "JMSTimestamp", "amqp.creation_time":
		if m.CreatedAt.IsZero() {
			return vUnknown
		}
		return val{k: vInt, i: m.CreatedAt.UnixMilli()}
	case "JMSExpiration", "amqp.absolute_expiry_time":
		if m.Expires.IsZero() {
			return val{k: vInt}
		}
		return val{k: vInt, i: m.Expires.UnixMilli()}
	case "JMSType":
		if v, ok := m.Headers.Get("x-opt-jms-type"); ok && v.Kind() == message.KindString {
			return val{k: vString, s: v.Str()}
		}
		return strOrNull(m.Subject)
	case "JMSReplyTo", "amqp.reply_to":
		return strOrNull(m.ReplyTo)
	case "amqp.subject":
		return strOrNull(m.Subject)
	case "amqp.content_type":
		return strOrNull(m.ContentType)
	case "amqp.group_id":
		return strOrNull(m.GroupID)
	}
	v, ok := m.Headers.Get(n.name)
	if !ok {
		return vUnknown
	}
	switch v.Kind() {
	case message.KindString:
		return val{k: vString, s: v.Str()}
	case message.KindInt:
		return val{k: vInt, i: v.IntValue()}
	case message.KindFloat:
		return val{k: vFloat, f: v.FloatValue()}
	case message.KindBool:
		return boolVal(v.BoolValue())
	case message.KindTime:
		return val{k: vInt, i: v.TimeValue().UnixMilli()}
	case message.KindNull:
		return vUnknown
	}
	return val{k: vOther}
}

func strOrNull(s string) val {
	if s == "" {
		return vUnknown
	}
	return val{k: vString, s: s}
}

type logicNode struct {
	or   bool
	l, r node
}

func (n *logicNode) String() string {
	op := " AND "
	if n.or {
		op = " OR "
	}
	return n.l.String() + op + n.r.String()
}

// eval applies SQL's three-valued AND and OR (Tables 3-4, 3-5); a
// non-boolean operand is unknown.
func (n *logicNode) eval(m *message.Message) val {
	a := n.l.eval(m)
	if a.k != vBool {
		a = vUnknown
	}
	if n.or && a.k == vBool && a.b || !n.or && a.k == vBool && !a.b {
		return a // short circuit: TRUE OR x, FALSE AND x
	}
	b := n.r.eval(m)
	if b.k != vBool {
		b = vUnknown
	}
	if n.or {
		switch {
		case b.k == vBool && b.b:
			return vTrue
		case a.k == vNull || b.k == vNull:
			return vUnknown
		}
		return vFalse
	}
	switch {
	case b.k == vBool && !b.b:
		return vFalse
	case a.k == vNull || b.k == vNull:
		return vUnknown
	}
	return vTrue
}

type notNode struct{ x node }

func (n *notNode) String() string { return "NOT " + n.x.String() }
func (n *notNode) eval(m *message.Message) val {
	v := n.x.eval(m)
	if v.k != vBool {
		return vUnknown
	}
	return boolVal(!v.b)
}

type negNode struct {
	x    node
	plus bool
}

func (n *negNode) String() string {
	if n.plus {
		return "+" + n.x.String()
	}
	return "-" + n.x.String()
}

func (n *negNode) eval(m *message.Message) val {
	v := n.x.eval(m)
	switch v.k {
	case vInt:
		if !n.plus {
			v.i = -v.i
		}
		return v
	case vFloat:
		if !n.plus {
			v.f = -v.f
		}
		return v
	}
	return vUnknown
}

type arithNode struct {
	op   byte
	l, r node
}

func (n *arithNode) String() string { return n.l.String() + " " + string(n.op) + " " + n.r.String() }

// eval follows Java numeric promotion: long op long is a long (wrapping),
// anything with a double is a double; a non-number is unknown, and so is
// an integer division by zero.
func (n *arithNode) eval(m *message.Message) val {
	a, b := n.l.eval(m), n.r.eval(m)
	if a.k == vInt && b.k == vInt {
		switch n.op {
		case '+':
			return val{k: vInt, i: a.i + b.i}
		case '-':
			return val{k: vInt, i: a.i - b.i}
		case '*':
			return val{k: vInt, i: a.i * b.i}
		}
		if b.i == 0 || a.i == math.MinInt64 && b.i == -1 {
			return vUnknown
		}
		return val{k: vInt, i: a.i / b.i}
	}
	x, ok1 := a.num()
	y, ok2 := b.num()
	if !ok1 || !ok2 {
		return vUnknown
	}
	switch n.op {
	case '+':
		return val{k: vFloat, f: x + y}
	case '-':
		return val{k: vFloat, f: x - y}
	case '*':
		return val{k: vFloat, f: x * y}
	}
	return val{k: vFloat, f: x / y}
}

type cmpNode struct {
	op   string
	l, r node
}

func (n *cmpNode) String() string { return n.l.String() + " " + n.op + " " + n.r.String() }
func (n *cmpNode) eval(m *message.Message) val {
	return compare(n.op, n.l.eval(m), n.r.eval(m))
}

// compare compares like types: numbers (promoted), strings and booleans
// (= and <> only). NULL gives unknown; unlike types give false.
func compare(op string, a, b val) val {
	if a.k == vNull || b.k == vNull {
		return vUnknown
	}
	var c int
	switch {
	case a.k == vInt && b.k == vInt:
		c = cmp3(a.i, b.i)
	case (a.k == vInt || a.k == vFloat) && (b.k == vInt || b.k == vFloat):
		x, _ := a.num()
		y, _ := b.num()
		if x != x || y != y { // NaN compares false, except <>
			return boolVal(op == "<>")
		}
		c = cmp3(x, y)
	case a.k == vString && b.k == vString:
		if op != "=" && op != "<>" {
			return vFalse
		}
		return boolVal((a.s == b.s) == (op == "="))
	case a.k == vBool && b.k == vBool:
		if op != "=" && op != "<>" {
			return vFalse
		}
		return boolVal((a.b == b.b) == (op == "="))
	default:
		return vFalse
	}
	switch op {
	case "=":
		return boolVal(c == 0)
	case "<>":
		return boolVal(c != 0)
	case "<":
		return boolVal(c < 0)
	case "<=":
		return boolVal(c <= 0)
	case ">":
		return boolVal(c > 0)
	}
	return boolVal(c >= 0)
}

func cmp3[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type betweenNode struct {
	x, lo, hi node
	not       bool
}

func (n *betweenNode) String() string {
	op := " BETWEEN "
	if n.not {
		op = " NOT BETWEEN "
	}
	return n.x.String() + op + n.lo.String() + " AND " + n.hi.String()
}

func (n *betweenNode) eval(m *message.Message) val {
	x := n.x.eval(m)
	v := (&logicNode{}).combine(compare(">=", x, n.lo.eval(m)), compare("<=", x, n.hi.eval(m)))
	if n.not && v.k == vBool {
		return boolVal(!v.b)
	}
	return v
}

// combine is three-valued AND of two evaluated values.
func (*logicNode) combine(a, b val) val {
	switch {
	case a.k == vBool && !a.b, b.k == vBool && !b.b:
		return vFalse
	case a.k == vNull || b.k == vNull:
		return vUnknown
	}
	return vTrue
}

type inNode struct {
	x    node
	list []string
	not  bool
}

func (n *inNode) String() string {
	var b strings.Builder
	b.WriteString(n.x.String())
	if n.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, s := range n.list {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString((&litNode{v: val{k: vString, s: s}}).String())
	}
	b.WriteString(")")
	return b.String()
}

func (n *inNode) eval(m *message.Message) val {
	x := n.x.eval(m)
	switch x.k {
	case vNull:
		return vUnknown
	case vString:
	default:
		return vFalse
	}
	found := false
	for _, s := range n.list {
		if s == x.s {
			found = true
			break
		}
	}
	return boolVal(found != n.not)
}

type likeNode struct {
	x       node
	pattern string
	esc     rune // -1: none
	not     bool
}

func (n *likeNode) String() string {
	s := n.x.String()
	if n.not {
		s += " NOT"
	}
	s += " LIKE " + (&litNode{v: val{k: vString, s: n.pattern}}).String()
	if n.esc >= 0 {
		s += " ESCAPE " + (&litNode{v: val{k: vString, s: string(n.esc)}}).String()
	}
	return s
}

func (n *likeNode) eval(m *message.Message) val {
	x := n.x.eval(m)
	switch x.k {
	case vNull:
		return vUnknown
	case vString:
	default:
		return vFalse
	}
	return boolVal(like(x.s, n.pattern, n.esc) != n.not)
}

// like matches s against a LIKE pattern: "_" one character, "%" any
// sequence, esc (when >= 0) makes the next character literal. It runs in
// O(len(s)·len(pattern)) by remembering the last "%" (no exponential
// backtracking).
func like(s, pattern string, esc rune) bool {
	type item struct {
		r    rune
		kind byte // 'c' literal, '_' one, '%' any
	}
	var pat []item
	for i := 0; i < len(pattern); {
		r, n := utf8.DecodeRuneInString(pattern[i:])
		i += n
		switch {
		case esc >= 0 && r == esc && i < len(pattern):
			r, n = utf8.DecodeRuneInString(pattern[i:])
			i += n
			pat = append(pat, item{r, 'c'})
		case r == '_':
			pat = append(pat, item{r, '_'})
		case r == '%':
			pat = append(pat, item{r, '%'})
		default:
			pat = append(pat, item{r, 'c'})
		}
	}
	str := []rune(s)
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(pat) && (pat[pi].kind == '_' || pat[pi].kind == 'c' && pat[pi].r == str[si]):
			si++
			pi++
		case pi < len(pat) && pat[pi].kind == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi].kind == '%' {
		pi++
	}
	return pi == len(pat)
}

type isNullNode struct {
	x   node
	not bool
}

func (n *isNullNode) String() string {
	if n.not {
		return n.x.String() + " IS NOT NULL"
	}
	return n.x.String() + " IS NULL"
}

func (n *isNullNode) eval(m *message.Message) val {
	return boolVal((n.x.eval(m).k == vNull) != n.not)
}
