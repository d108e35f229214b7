/* SPDX-License-Identifier: ISC */
/* Compiled, never run, by ctest (compile_log_fields_*): a log_ev or alarm_ev call with
 * exactly the most fields it takes compiles, and one with a field more does not (the
 * field count is checked by a negative array size), so no call site can have its fields
 * cut silently. TOO_MANY_LOG / TOO_MANY_ALARM add the one field too many. */
#include "core/alarm.h"
#include "core/log.h"

#define F1(n) LOG_I("f" #n, n)
#define F8(n) F1(n##0), F1(n##1), F1(n##2), F1(n##3), F1(n##4), F1(n##5), F1(n##6), F1(n##7)

void log_fields_max(void);
void log_fields_max(void)
{
	_Static_assert(LOG_FIELDS_MAX == 32, "the field lists below assume 32");
	log_ev(LOG_LVL_INFO, NULL, "max", F8(1), F8(2), F8(3), F8(4)
#ifdef TOO_MANY_LOG
	                                                           ,
	       F1(99)
#endif
	);
	alarm_ev("Max", ALARM_INFORMATIONAL, NULL, F8(1), F8(2), F8(3), F1(40), F1(41), F1(42),
	         F1(43), F1(44), F1(45)
#ifdef TOO_MANY_ALARM
	                             ,
	         F1(99)
#endif
	);
}
