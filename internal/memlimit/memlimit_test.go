package memlimit

import (
	"slices"
	"strings"
	"testing"
)

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int64
		ok       bool
		err      string
	}{
		{name: "v2 bytes", in: "268435456\n", want: 268435456, ok: true},
		{name: "v2 no limit", in: "max\n"},
		{name: "v1 bytes", in: "536870912\n", want: 536870912, ok: true},
		{name: "v1 no limit", in: "9223372036854771712\n"},
		{name: "beyond int64", in: "18446744073709551615"},
		{name: "empty", in: "", err: `not ""`},
		{name: "unit suffix", in: "256Mi", err: `not "256Mi"`},
		{name: "negative", in: "-1", err: "positive byte count, not -1"},
		{name: "huge negative", in: "-99999999999999999999", err: "not \"-99999999999999999999\""},
		{name: "zero", in: "0", err: "positive byte count, not 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := ParseLimit(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseLimit(%q) error = %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || ok != tc.ok {
				t.Fatalf("ParseLimit(%q) = %d, %v, %v; want %d, %v, nil", tc.in, got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

func TestLimitFiles(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{
			name: "v2 in a container's own namespace",
			in:   "0::/\n",
			want: []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/unified/memory.max"},
		},
		{
			name: "v2 nested",
			in:   "0::/kubepods/pod1/ctr\n",
			want: []string{
				"/sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "/sys/fs/cgroup/kubepods/pod1/memory.max",
				"/sys/fs/cgroup/kubepods/memory.max", "/sys/fs/cgroup/memory.max",
				"/sys/fs/cgroup/unified/kubepods/pod1/ctr/memory.max", "/sys/fs/cgroup/unified/kubepods/pod1/memory.max",
				"/sys/fs/cgroup/unified/kubepods/memory.max", "/sys/fs/cgroup/unified/memory.max",
			},
		},
		{
			name: "v1 hybrid (this machine's form)",
			in:   "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n",
			want: []string{
				"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/unified/memory.max",
				"/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
				"/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes",
				"/sys/fs/cgroup/memory/memory.limit_in_bytes",
			},
		},
		{
			name: "v1 co-mounted controllers",
			in:   "3:cpu,memory:/a\n",
			want: []string{"/sys/fs/cgroup/cpu,memory/a/memory.limit_in_bytes", "/sys/fs/cgroup/cpu,memory/memory.limit_in_bytes"},
		},
		{name: "malformed lines", in: "garbage\n4:memory\n4:memory:relative\n"},
		{name: "empty", in: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LimitFiles(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("LimitFiles(%q) =\n%q\nwant\n%q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLowest(t *testing.T) {
	files := LimitFiles("4:memory:/kubepods/pod1/ctr\n")
	ctr, pod, kubepods, root := files[0], files[1], files[2], files[3]
	for _, tc := range []struct {
		name   string
		read   map[string]string
		want   Found
		wantOK bool
		err    string
	}{
		{name: "container's own limit", read: map[string]string{ctr: "268435456\n", root: "9223372036854771712\n"},
			want: Found{Limit: 268435456, File: ctr}, wantOK: true},
		{name: "a lower limit on the Pod binds", read: map[string]string{ctr: "536870912\n", pod: "268435456\n"},
			want: Found{Limit: 268435456, File: pod}, wantOK: true},
		{name: "no limit anywhere", read: map[string]string{ctr: "9223372036854771712\n", kubepods: "9223372036854771712\n"}},
		{name: "no files (no memory controller)", read: map[string]string{}},
		{name: "malformed names the file", read: map[string]string{ctr: "lots\n"}, err: ctr + `: a memory limit is a byte count or "max", not "lots"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := Lowest(files, tc.read)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || ok != tc.wantOK {
				t.Fatalf("Lowest = %+v, %v, %v; want %+v, %v, nil", got, ok, err, tc.want, tc.wantOK)
			}
		})
	}
}

func TestSoftLimit(t *testing.T) {
	if got, want := SoftLimit(256<<20), int64(241591910); got != want {
		t.Fatalf("SoftLimit(256Mi) = %d, want %d (90 %%)", got, want)
	}
}
