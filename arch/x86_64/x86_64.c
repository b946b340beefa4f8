/* placeholder: being written */
typedef int physim_placeholder_x86_64;
