/* relayd's control socket: the session mailctl queue talks to (relay_control.c). */
#ifndef RELAYD_RELAY_CONTROL_H
#define RELAYD_RELAY_CONTROL_H

#include "lib/session.h"

/* Its daemon arg is a struct relay_runner ** (NULL once relayd stops). */
extern const struct session_ops	relay_control_ops;

#endif
