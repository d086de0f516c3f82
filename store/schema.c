/*
 * schema.c - embeds schemas/store.sql in the binary (the assembler's
 * .incbin: no code generator, and the .sql file stays the one source).
 * store.c runs it for migration step 1. The build runs from the
 * repository root; the Makefile makes schema.o depend on the .sql file.
 */
#include "store_int.h"

__asm__(".section .rodata\n"
	".global store_schema_sql\n"
	".type store_schema_sql, @object\n"
	"store_schema_sql:\n"
	".incbin \"schemas/store.sql\"\n"
	".byte 0\n"
	".previous\n");
