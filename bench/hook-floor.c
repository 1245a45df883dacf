/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hook-floor OBJ: loads and attaches every program in OBJ (libbpf), prints
 * "ID NAME" per program, and holds them until SIGTERM/SIGINT. For
 * bench/agent.sh phase 1's floor control (bench/hook-floor.bpf.c).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
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

	if (argc != 2) {
		fprintf(stderr, "usage: hook-floor OBJ\n");
		return 2;
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

		if (!bpf_program__attach(prog)) {
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
