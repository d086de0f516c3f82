/*
 * cmd_key.c - riskctl key create|list|revoke: API keys. The secret is
 * printed once at creation; the store keeps only its SHA-256.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/rk.h"

static const char key_help[] =
    "usage: riskctl [--db PATH] key create --role score|admin [--name N]\n"
    "       riskctl [--db PATH] key list\n"
    "       riskctl [--db PATH] key revoke ID|NAME\n"
    "create prints the new key once: only its hash is stored. Once any\n"
    "key exists, riskd requires a key on every /v1 call.\n";

static int usage(void)
{
	fputs(key_help, stderr);
	return CLI_EUSAGE;
}

static int key_create(store *st, int argc, char **argv)
{
	const char *role = NULL, *name = NULL;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--role") && i + 1 < argc)
			role = argv[++i];
		else if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else
			return usage();
	}
	if (!role || (strcmp(role, "score") && strcmp(role, "admin")))
		return usage();
	char *key;
	int64_t id;
	if (store_key_create(st, role, name, &key, &id)) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		return CLI_EUSER;
	}
	printf("%s\n", key);
	fprintf(stderr, "key %lld (%s) created; it is shown only now\n",
		(long long)id, role);
	rk_free(key);
	return CLI_OK;
}

static int key_list(store *st)
{
	store_key *k;
	int n;
	if (store_key_list(st, &k, &n)) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		return CLI_EUSER;
	}
	printf("%-5s %-20s %-6s %-11s %-20s %s\n", "ID", "NAME", "ROLE",
	       "PREFIX", "CREATED (UTC)", "STATE");
	for (int i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)k[i].created_at;
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
			 gmtime_r(&t, &tm));
		printf("%-5lld %-20s %-6s %-11s %-20s %s\n", (long long)k[i].id,
		       k[i].name ? k[i].name : "-", k[i].role, k[i].prefix,
		       when, k[i].revoked ? "revoked" : "active");
	}
	store_key_list_free(k, n);
	return CLI_OK;
}

int cmd_key(cli_ctx *c, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(key_help, stdout);
		return CLI_OK;
	}
	if (argc < 2)
		return usage();
	const char *op = argv[1];
	if (strcmp(op, "create") && strcmp(op, "list") && strcmp(op, "revoke"))
		return usage();
	if ((!strcmp(op, "list") && argc != 2) ||
	    (!strcmp(op, "revoke") && argc != 3))
		return usage();
	store *st = cli_open_store(c, false);
	if (!st)
		return CLI_EUSER;
	int rc;
	if (!strcmp(op, "create")) {
		rc = key_create(st, argc, argv);
	} else if (!strcmp(op, "list")) {
		rc = key_list(st);
	} else if (store_key_revoke(st, argv[2])) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		rc = CLI_EUSER;
	} else {
		printf("key %s revoked\n", argv[2]);
		rc = CLI_OK;
	}
	store_close(st);
	return rc;
}
