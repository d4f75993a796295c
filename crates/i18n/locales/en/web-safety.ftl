# The admin center's layout aids and its confirmations of weakening or destructive changes
# (issue 20).
web-skip-to-content = Skip to main content
web-menu = Menu
