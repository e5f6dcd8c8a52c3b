package gateway

import (
	"net/http"
	"reflect"
	"testing"
)

func TestHideGatewayCookies(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"console_session=abc; stepup_session=eyJ; theme=dark"}, []string{"console_session=abc; theme=dark"}},
		{[]string{"stepup_token=x", "a=1"}, []string{"a=1"}},
		{[]string{"stepup_session=x; stepup_token=y; stepup_login=z"}, nil},
		{[]string{"stepup_device=d.m; stepup_browser=b; a=1"}, []string{"a=1"}},
		{[]string{"stepup_lang=zh-Hans; a=1; stepup_flash=x.y"}, []string{"a=1"}},
		{[]string{"my_stepup_pref=1; a=2"}, []string{"my_stepup_pref=1; a=2"}},
		{[]string{"a=1"}, []string{"a=1"}},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": append([]string(nil), tt.in...)}
		hideGatewayCookies(h)
		if got := h["Cookie"]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("hideGatewayCookies(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
