import SwitchboardChat
print("x")
