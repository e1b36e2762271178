package address

import "testing"

func TestPercentDecode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a%2Fb", "a/b"},
		{"a%2fb", "a/b"},
		{"%25", "%"},
		{"%41%42", "AB"},
		{"50%", "50%"},     // a lone % stays
		{"%4", "%4"},       // too short
		{"%zz", "%zz"},     // not hex
		{"x%2B%23", "x+#"}, // wildcards escaped by a renderer
	} {
		if got := PercentDecode(tc.in); got != tc.want {
			t.Errorf("PercentDecode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
