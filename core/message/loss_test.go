package message

import (
	"slices"
	"testing"
)

func TestLost(t *testing.T) {
	tests := []struct {
		lost  Lost
		names []string
	}{
		{0, nil},
		{LostSubject, []string{"subject"}},
		{LostReplyTo | LostTooLarge, []string{"reply-to", "too-large"}},
		{lostEnd - 1, lostNames[:]},
	}
	for _, tc := range tests {
		var names []string
		tc.lost.Each(func(i int, name string) {
			if FieldName(i) != name {
				t.Errorf("FieldName(%d) = %q, want %q", i, FieldName(i), name)
			}
			names = append(names, name)
		})
		if !slices.Equal(names, tc.names) || tc.lost.Count() != len(tc.names) {
			t.Errorf("%b: names %v count %d, want %v", tc.lost, names, tc.lost.Count(), tc.names)
		}
	}
	if NumLostFields != 17 || int(lostEnd) != 1<<NumLostFields {
		t.Errorf("every Lost bit needs a name: %d names, end bit %b", NumLostFields, lostEnd)
	}
	if FieldName(-1) != "" || FieldName(NumLostFields) != "" {
		t.Error("FieldName out of range should be empty")
	}
}
