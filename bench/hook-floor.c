/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hook-floor OBJ CGROUP2: loads and attaches every program in OBJ (libbpf;
 * sock_ops programs to the cgroup v2 directory CGROUP2), prints "ID NAME"
 * per program, and holds them until SIGTERM/SIGINT. For bench/agent.sh
 * phase 1's floor control (bench/hook-floor.bpf.c).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int cgroup;

	if (argc != 3) {
		fprintf(stderr, "usage: hook-floor OBJ CGROUP2\n");
		return 2;
	}
	cgroup = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (cgroup < 0) {
		perror(argv[2]);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "hook-floor: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {0};
		__u32 len = sizeof(info);
		struct bpf_link *link;

		if (bpf_program__type(prog) == BPF_PROG_TYPE_SOCK_OPS)
			link = bpf_program__attach_cgroup(prog, cgroup);
		else
			link = bpf_program__attach(prog);
		if (!link) {
			fprintf(stderr, "hook-floor: cannot attach %s\n", bpf_program__name(prog));
			return 1;
		}
		bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
		printf("%u %s\n", info.id, bpf_program__name(prog));
	}
	fflush(stdout);
	while (!stop)
		pause();
	return 0;
}
